//! Header names as the client sent them. hyper lower-cases every header name it parses, and
//! its record of the original spelling is private; API Gateway keeps it: "API Gateway passes
//! header names as the client sent them" in REST REQUEST events and HTTP API 1.0 events
//! (../shared/reference/api-gateway-authorizers.md §9; 2.0 events lower-case them, which the
//! gateway does itself). So the front reads each connection's bytes on their way into hyper,
//! keeps the header names of every request head in order, and hands them to the request that
//! hyper then parses from the same bytes.
//!
//! The reader follows the connection as HTTP/1.1 frames it: a head, then a body of
//! `Content-Length` bytes or chunks, then the next head. Any doubt (a head it cannot parse, a
//! head too large, names that do not match what hyper parsed) and that connection's requests
//! fall back to hyper's lower-case names for good: the spelling is never guessed.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Largest request head the reader follows (hyper refuses larger ones on its own).
const MAX_HEAD: usize = 1 << 20;

/// Most header fields in one head: hyper's own limit, beyond which it refuses the request.
const MAX_FIELDS: usize = 100;

/// Most heads read ahead of the requests hyper has handed over (pipelining); past it the
/// connection falls back to lower case rather than hold the names of a flood of heads.
const MAX_QUEUED: usize = 16;

/// The header names of a connection's request heads, oldest first, shared between the
/// reader and the requests hyper hands over.
#[derive(Clone, Debug, Default)]
pub struct Heads(Arc<Mutex<Queue>>);

#[derive(Debug, Default)]
struct Queue {
    heads: VecDeque<Vec<String>>,
    /// Once set, nothing more is queued or handed out on this connection.
    lost: bool,
}

impl Heads {
    /// The names, as sent and in order, of the next request on the connection, if they are
    /// known and agree with `parsed` (hyper's lower-case map of the same head).
    pub fn next(&self, parsed: &axum::http::HeaderMap) -> Option<Vec<String>> {
        let mut queue = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if queue.lost {
            return None;
        }
        let names = queue.heads.pop_front();
        let agrees = names.as_ref().is_some_and(|names| {
            names.len() == parsed.len() && names.iter().all(|n| parsed.contains_key(n.as_str()))
        });
        if agrees {
            names
        } else {
            queue.lost = true;
            queue.heads.clear();
            None
        }
    }

    fn push(&self, names: Vec<String>) {
        let mut queue = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if queue.lost {
            return;
        }
        if queue.heads.len() >= MAX_QUEUED {
            queue.lost = true;
            queue.heads.clear();
            return;
        }
        queue.heads.push_back(names);
    }

    fn lose(&self) {
        let mut queue = self.0.lock().unwrap_or_else(|e| e.into_inner());
        queue.lost = true;
        queue.heads.clear();
    }
}

/// `(name, value)` pairs of `parsed` in the order and spelling of `sent` (from
/// [`Heads::next`]); hyper's lower-case names in its own order without it.
pub fn as_sent(parsed: &axum::http::HeaderMap, sent: Option<Vec<String>>) -> Vec<(String, String)> {
    let text = |v: &axum::http::HeaderValue| match v.to_str() {
        Ok(v) => v.to_string(),
        Err(_) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
    };
    let Some(sent) = sent else {
        return parsed
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), text(v)))
            .collect();
    };
    // The n-th field of a name takes the n-th value hyper kept under it (HeaderMap looks
    // names up without regard to case).
    let mut out: Vec<(String, String)> = Vec::with_capacity(sent.len());
    for name in sent {
        let nth = out
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
            .count();
        if let Some(v) = parsed.get_all(name.as_str()).iter().nth(nth) {
            out.push((name, text(v)));
        }
    }
    out
}

/// Where the reader is in the connection's byte stream.
#[derive(Debug)]
enum Frame {
    /// Collecting a request head.
    Head(Vec<u8>),
    /// Inside a body of known length: bytes still to come.
    Body(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// Lost track: nothing more is read.
    Lost,
}

#[derive(Debug)]
enum Chunk {
    /// The chunk-size line so far.
    Size(Vec<u8>),
    /// Chunk data: bytes still to come, then its CRLF.
    Data(u64),
    /// The CRLF after a chunk's data: bytes still to come.
    DataEnd(u8),
    /// The trailer section after the last chunk: the current line so far.
    Trailer(Vec<u8>),
}

/// A connection whose incoming bytes are followed for request heads (see the module).
#[derive(Debug)]
pub struct Tapped<S> {
    inner: S,
    frame: Frame,
    heads: Heads,
}

impl<S> Tapped<S> {
    /// Follows `inner`'s incoming bytes; the names go to `heads`.
    pub fn new(inner: S, heads: Heads) -> Tapped<S> {
        Tapped {
            inner,
            frame: Frame::Head(Vec::new()),
            heads,
        }
    }

    /// Follows `bytes`, the next ones read from the connection.
    fn follow(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let used = match &mut self.frame {
                Frame::Lost => return,
                // A whole head in one read, the common case, is parsed where it lies.
                Frame::Head(buf) if buf.is_empty() && ends_head(bytes) => match head(bytes) {
                    Ok(Some((length, names, body))) => {
                        self.heads.push(names);
                        self.frame = body;
                        length
                    }
                    Ok(None) => {
                        buf.extend_from_slice(bytes);
                        bytes.len()
                    }
                    Err(()) => {
                        self.lost();
                        return;
                    }
                },
                Frame::Head(buf) => {
                    let from = buf.len().saturating_sub(3);
                    buf.extend_from_slice(bytes);
                    let taken = bytes.len();
                    // A head ends at an empty line; nothing is parsed before one arrives.
                    let ended = ends_head(&buf[from..]);
                    if !ended {
                        if buf.len() > MAX_HEAD {
                            self.lost();
                        }
                        taken
                    } else {
                        match head(buf) {
                            Ok(Some((length, names, body))) => {
                                let extra = buf.len() - length;
                                self.heads.push(names);
                                self.frame = body;
                                // What followed the head in this read is read again.
                                taken - extra
                            }
                            // Only empty lines so far, which may come before a request.
                            Ok(None) if buf.len() <= MAX_HEAD => taken,
                            Ok(None) => {
                                self.lost();
                                return;
                            }
                            Err(()) => {
                                self.lost();
                                return;
                            }
                        }
                    }
                }
                Frame::Body(left) => {
                    let n = (*left).min(bytes.len() as u64);
                    *left -= n;
                    if *left == 0 {
                        self.frame = Frame::Head(Vec::new());
                    }
                    n as usize
                }
                Frame::Chunked(chunk) => match chunked(chunk, bytes) {
                    Some((used, done)) => {
                        if done {
                            self.frame = Frame::Head(Vec::new());
                        }
                        used
                    }
                    None => {
                        self.lost();
                        return;
                    }
                },
            };
            bytes = &bytes[used..];
        }
    }

    fn lost(&mut self) {
        self.frame = Frame::Lost;
        self.heads.lose();
    }
}

/// Whether `bytes` hold the empty line that ends a head (CRLF or bare LF line ends): one pass,
/// stopping at the first, so a read of many pipelined heads costs its length once.
fn ends_head(bytes: &[u8]) -> bool {
    let mut at = 0;
    while let Some(i) = bytes[at..].iter().position(|&b| b == b'\n') {
        let next = at + i + 1;
        match bytes.get(next..) {
            Some([b'\n', ..]) | Some([b'\r', b'\n', ..]) => return true,
            _ => at = next,
        }
    }
    false
}

/// A head's length, its header names as sent, and how its body is framed.
type Parsed = (usize, Vec<String>, Frame);

/// The complete head at the start of `buf`, `None` while it is not complete, an error for a
/// head hyper would not take either.
fn head(buf: &[u8]) -> Result<Option<Parsed>, ()> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut request = httparse::Request::new(&mut fields);
    match request.parse(buf) {
        Ok(httparse::Status::Complete(length)) => {
            framed(length, request.headers).map(Some).ok_or(())
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(()),
    }
}

/// The names of `fields` and how the body after them is framed; `None` for framing hyper
/// refuses.
fn framed(length: usize, fields: &[httparse::Header<'_>]) -> Option<Parsed> {
    let mut names = Vec::with_capacity(fields.len());
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    for field in fields {
        if field.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(field.value).ok()?.trim().parse().ok()?;
            if content_length.is_some_and(|c| c != n) {
                return None;
            }
            content_length = Some(n);
        } else if field.name.eq_ignore_ascii_case("transfer-encoding") {
            // Each field's last coding must be chunked (hyper refuses a request whose is not);
            // anything else and the reader gives up: the connection falls back to lower case.
            let value = std::str::from_utf8(field.value).ok()?;
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
            if !chunked {
                return None;
            }
        }
        names.push(field.name.to_string());
    }
    let body = if chunked {
        Frame::Chunked(Chunk::Size(Vec::new()))
    } else {
        match content_length {
            Some(n) if n > 0 => Frame::Body(n),
            _ => Frame::Head(Vec::new()),
        }
    };
    Some((length, names, body))
}

/// Follows a chunked body through `bytes`: how many it used and whether the body ended;
/// `None` for a malformed one.
fn chunked(state: &mut Chunk, bytes: &[u8]) -> Option<(usize, bool)> {
    let mut used = 0;
    while used < bytes.len() {
        let rest = &bytes[used..];
        let trailer = matches!(state, Chunk::Trailer(_));
        match state {
            Chunk::Size(line) | Chunk::Trailer(line) => {
                let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                    line.extend_from_slice(rest);
                    if line.len() > MAX_HEAD {
                        return None;
                    }
                    return Some((bytes.len(), false));
                };
                line.extend_from_slice(&rest[..end]);
                used += end + 1;
                let text = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
                if trailer {
                    if text.is_empty() {
                        return Some((used, true));
                    }
                    *state = Chunk::Trailer(Vec::new());
                } else {
                    let size = text.split(';').next()?.trim();
                    let size = u64::from_str_radix(size, 16).ok()?;
                    *state = if size == 0 {
                        Chunk::Trailer(Vec::new())
                    } else {
                        Chunk::Data(size)
                    };
                }
            }
            Chunk::Data(left) => {
                let n = (*left).min(rest.len() as u64);
                *left -= n;
                used += n as usize;
                if *left == 0 {
                    *state = Chunk::DataEnd(2);
                }
            }
            Chunk::DataEnd(left) => {
                // CRLF, or a bare LF as hyper also takes.
                match (rest[0], *left) {
                    (b'\r', 2) => *left = 1,
                    (b'\n', _) => *state = Chunk::Size(Vec::new()),
                    _ => return None,
                }
                used += 1;
            }
        }
    }
    Some((used, false))
}

impl<S: AsyncRead + Unpin> AsyncRead for Tapped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.follow(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tapped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn followed(chunks: &[&[u8]]) -> (Heads, Vec<Vec<String>>) {
        let heads = Heads::default();
        let mut tap = Tapped::new((), heads.clone());
        for c in chunks {
            tap.follow(c);
        }
        let got = heads.0.lock().unwrap().heads.iter().cloned().collect();
        (heads, got)
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_keep_their_spelling_across_reads_split_anywhere() {
        let wire: &[u8] =
            b"GET /dev/hello HTTP/1.1\r\nHost: x\r\nHeaderAuth1: v\r\nx-API-key: k\r\n\r\n";
        for split in 1..wire.len() {
            let (_, got) = followed(&[&wire[..split], &wire[split..]]);
            assert_eq!(
                got,
                vec![names(&["Host", "HeaderAuth1", "x-API-key"])],
                "{split}"
            );
        }
    }

    #[test]
    fn bodies_of_known_length_and_chunked_ones_are_stepped_over() {
        let wire: &[u8] = b"POST /a HTTP/1.1\r\nContent-Length: 16\r\n\r\nX-Fake: \r\n\r\n\r\n\r\n\
            POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nA: b\n\r\n0\r\nTrailer-X: 1\r\n\r\n\
            GET /c HTTP/1.1\r\nAuthorization: t\r\n\r\n";
        for split in 1..wire.len() {
            let (_, got) = followed(&[&wire[..split], &wire[split..]]);
            assert_eq!(
                got,
                vec![
                    names(&["Content-Length"]),
                    names(&["Transfer-Encoding"]),
                    names(&["Authorization"])
                ],
                "{split}"
            );
        }
    }

    #[test]
    fn a_head_it_cannot_follow_loses_the_names_for_good() {
        let (heads, got) =
            followed(&[b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\nGET / HTTP/1.1\r\nA: b\r\n\r\n"]);
        assert!(got.is_empty());
        assert!(heads.next(&axum::http::HeaderMap::new()).is_none());
    }

    #[test]
    fn names_that_disagree_with_hypers_are_not_used() {
        let (heads, _) =
            followed(&[b"GET / HTTP/1.1\r\nA: 1\r\n\r\nGET / HTTP/1.1\r\nB: 2\r\n\r\n"]);
        let mut parsed = axum::http::HeaderMap::new();
        parsed.insert("z", "1".parse().unwrap());
        assert!(heads.next(&parsed).is_none());
        parsed.clear();
        parsed.insert("b", "2".parse().unwrap());
        assert!(heads.next(&parsed).is_none(), "lost once, lost for good");
    }

    #[test]
    fn repeated_names_keep_each_spelling_with_its_value() {
        let mut parsed = axum::http::HeaderMap::new();
        parsed.append("x-tenant", "a".parse().unwrap());
        parsed.append("x-tenant", "b".parse().unwrap());
        parsed.append("host", "h".parse().unwrap());
        let sent = names(&["X-Tenant", "Host", "x-tenant"]);
        assert_eq!(
            as_sent(&parsed, Some(sent)),
            vec![
                ("X-Tenant".to_string(), "a".to_string()),
                ("Host".to_string(), "h".to_string()),
                ("x-tenant".to_string(), "b".to_string()),
            ]
        );
    }
}
