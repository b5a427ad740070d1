#!/bin/sh
# Opens a load.html in headless Chromium (Debian's package) and saves a screenshot of it at a
# window width, to check by eye that every chart renders with nothing fetched from the network
# and that the page fits the window (a phone is about 400 px wide).
#
#   scripts/screenshot-load-html.sh reports/<run>/load.html [out.png] [WIDTH]
#
# WIDTH defaults to 1280. Installs chromium with apt-get when it is missing (needs root). The
# page is opened from the file system with the network switched off: a chart that needed
# anything from outside would be missing from the picture.
set -eu
page=${1:?usage: scripts/screenshot-load-html.sh reports/RUN/load.html [out.png] [WIDTH]}
out=${2:-$(dirname "$page")/load.png}
width=${3:-1280}
case $width in
    ''|*[!0-9]*) echo "WIDTH must be a number of pixels, not '$width'" >&2; exit 2 ;;
esac
if ! command -v chromium >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
abs=$(cd "$(dirname "$page")" && pwd)/$(basename "$page")
# Tall enough for the whole page at either width.
height=$(( width < 800 ? 3200 : 2600 ))
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --proxy-server=127.0.0.1:9 --user-data-dir="$profile" \
    --window-size="$width,$height" --hide-scrollbars \
    --screenshot="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")" "file://$abs" 2>/dev/null
echo "$out"
