//! The Node and Go examples, made ready once per target directory: `npm install` of
//! examples/node/jwks-rsa (aws-lambda-ric builds native code with cmake, autoconf, automake,
//! libtool and g++), and `go build` of examples/go/golang-jwt (golang-go and
//! golang-github-golang-jwt-jwt-dev). Debian packages that are missing are installed with
//! apt-get when the tests run as root (as on CI and this project's machines), and named in the
//! panic otherwise. Safe across threads and test binaries: file locks let one of them do the
//! work while the others wait.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::python::{locked, run, target_dir};

fn example(parts: &[&str]) -> PathBuf {
    parts.iter().fold(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        |p, s| p.join(s),
    )
}

/// Copies `files` of `from` into `<target>/<name>` and runs `build` there, unless a marker holding
/// the files' contents says it is done; returns that folder.
fn prepared(name: &str, from: &Path, files: &[&str], build: &[(&str, &[&str], &str)]) -> PathBuf {
    let target = target_dir();
    let dir = target.join(name);
    let marker = dir.join(".authprobe-prepared");
    let wanted: String = files
        .iter()
        .map(|f| fs::read_to_string(from.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    let _lock = locked(&target.join(format!("{name}.lock")));
    if fs::read_to_string(&marker).is_ok_and(|m| m == wanted) {
        return dir;
    }
    fs::create_dir_all(&dir).unwrap();
    for f in files {
        fs::copy(from.join(f), dir.join(f)).unwrap();
    }
    for (program, args, what) in build {
        let mut command = Command::new(program);
        command.args(*args).current_dir(&dir);
        if *program == "go" {
            command
                .env("GO111MODULE", "off")
                .env("GOPATH", "/usr/share/gocode");
        }
        run(&mut command, what);
    }
    fs::write(&marker, wanted).unwrap();
    dir
}

/// Installs the Debian `packages` of the `(command or path, package)` pairs whose command is
/// not on the PATH (or whose path does not exist).
fn debian(needs: &[(&str, &str)]) {
    let missing: Vec<&str> = needs
        .iter()
        .filter(|(what, _)| {
            if what.starts_with('/') {
                !Path::new(what).exists()
            } else {
                !Command::new("sh")
                    .args(["-c", &format!("command -v {what}")])
                    .output()
                    .is_ok_and(|o| o.status.success())
            }
        })
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return;
    }
    let _lock = locked(&target_dir().join("debian-packages.lock"));
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    assert!(
        root,
        "these tests need Debian's {}: sudo apt-get install {} (or run .ci/run, which installs them)",
        missing.join(", "),
        missing.join(" ")
    );
    run(
        Command::new("apt-get").args(["update", "-qq"]),
        "update the Debian package lists",
    );
    run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing),
        "install the Debian packages the Node and Go examples need",
    );
}

/// The folder of examples/node/jwks-rsa with its `node_modules` installed.
pub fn node_jwks_rsa() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        debian(&[
            ("cmake", "cmake"),
            ("autoconf", "autoconf"),
            ("automake", "automake"),
            ("libtoolize", "libtool"),
            ("g++", "g++"),
            ("make", "make"),
        ]);
        prepared(
            "node-jwks-rsa",
            &example(&["node", "jwks-rsa"]),
            &["index.js", "package.json"],
            &[(
                "npm",
                &["install", "--no-audit", "--no-fund", "--foreground-scripts"],
                "install examples/node/jwks-rsa with npm",
            )],
        )
    })
    .clone()
}

/// The folder of examples/go/golang-jwt with its `bootstrap` built.
pub fn go_golang_jwt() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        debian(&[
            ("go", "golang-go"),
            (
                "/usr/share/gocode/src/github.com/golang-jwt/jwt",
                "golang-github-golang-jwt-jwt-dev",
            ),
        ]);
        prepared(
            "go-golang-jwt",
            &example(&["go", "golang-jwt"]),
            &["main.go"],
            &[(
                "go",
                &["build", "-o", "bootstrap", "."],
                "build examples/go/golang-jwt",
            )],
        )
    })
    .clone()
}
