//! Reading what comes from outside the process, never more than a limit: an HTTP body, a
//! child's output, a file. Every such read in authprobe goes through here, so an endless body,
//! a `yes` on a pipe, `/dev/zero` or a FIFO with no writer costs at most the limit (or is
//! refused at once) instead of all the memory or a hang that no signal ends.
//!
//! Each reader streams against its limit and stops at the first byte past it; nothing is read
//! whole first and checked after.

use std::path::Path;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt};

/// Why a bounded read gave nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// There was more than the limit.
    #[error("more than {} (the limit)", size(*.limit))]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// A path that is not a regular file: a folder, a FIFO, a socket, a device such as
    /// `/dev/zero` (also behind a symbolic link).
    #[error("not a regular file (a {kind})")]
    NotAFile {
        /// What it is instead.
        kind: &'static str,
    },
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The HTTP transfer failed.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

/// `n` bytes as people read them: `512 bytes`, `64 KiB`, `6 MiB`.
pub fn size(n: u64) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// `text` cut to at most `max` characters, with `…` where it was cut: what a report quotes of
/// a message from outside (an error message, a body).
pub fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(text),
        Some((end, _)) => std::borrow::Cow::Owned(format!("{}…", &text[..end])),
    }
}

/// What a path is, when it is not a regular file.
fn kind_of(file_type: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt as _;
    Some(if file_type.is_file() {
        return None;
    } else if file_type.is_dir() {
        "folder"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "device"
    } else {
        "special file"
    })
}

/// Reads a regular file of at most `limit` bytes. The file is opened without blocking (a FIFO
/// with no writer cannot hang the open) and refused unless it is a regular file, links
/// followed: `/dev/zero`, a FIFO and a folder are [`ReadError::NotAFile`].
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("token");
/// std::fs::write(&path, "abc").unwrap();
/// assert_eq!(authprobe::bounded::file(&path, 3).unwrap(), b"abc");
/// assert!(authprobe::bounded::file(&path, 2).is_err());
/// assert!(authprobe::bounded::file(std::path::Path::new("/dev/zero"), 1 << 20).is_err());
/// ```
pub fn file(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if let Some(kind) = kind_of(meta.file_type()) {
        return Err(ReadError::NotAFile { kind });
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(out)
}

/// [`file`] as UTF-8 text (invalid bytes replaced).
pub fn text_file(path: &Path, limit: u64) -> Result<String, ReadError> {
    file(path, limit).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// [`text_file`] off the async workers. It cannot block for long: only regular files are read.
pub async fn text_file_async(path: &Path, limit: u64) -> Result<String, ReadError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || text_file(&path, limit))
        .await
        .map_err(|e| ReadError::Io(std::io::Error::other(e)))?
}

/// Reads an HTTP response body of at most `limit` bytes: a declared `Content-Length` over
/// the limit is refused before any byte is read, and an endless body stops at the limit.
pub async fn response(answer: &mut reqwest::Response, limit: usize) -> Result<Vec<u8>, ReadError> {
    let too_large = ReadError::TooLarge {
        limit: limit as u64,
    };
    if answer.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = answer.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads a server's request body of at most `limit` bytes (axum's own reader, which stops at
/// the limit).
pub async fn body(body: axum::body::Body, limit: usize) -> Result<axum::body::Bytes, ReadError> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ReadError::TooLarge {
            limit: limit as u64,
        })
}

/// Reads and drops a request body, up to `limit` bytes: `Ok` with the bytes seen when it ended
/// within the limit, `Err` as soon as it went past (the rest is left unread).
pub async fn drain<B>(mut body: B, limit: usize) -> Result<usize, ReadError>
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Unpin,
{
    let mut seen = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let Ok(frame) = frame else { break };
        seen += frame.data_ref().map_or(0, axum::body::Bytes::len);
        if seen > limit {
            return Err(ReadError::TooLarge {
                limit: limit as u64,
            });
        }
    }
    Ok(seen)
}

/// Reads a stream (a child's stdout) to its end, at most `limit` bytes.
pub async fn stream<R: AsyncRead + Unpin>(reader: R, limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut out).await?;
    if out.len() > limit {
        return Err(ReadError::TooLarge {
            limit: limit as u64,
        });
    }
    Ok(out)
}

/// Reads a stream to its end and keeps its last `keep` bytes (a child's stderr, whose end
/// says what went wrong); memory stays under twice `keep` whatever the stream's length.
pub async fn tail<R: AsyncRead + Unpin>(mut reader: R, keep: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(keep.min(1 << 16));
    let mut buf = vec![0u8; 8192];
    while let Ok(n) = reader.read(&mut buf).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > 2 * keep {
            out.drain(..out.len() - keep);
        }
    }
    if out.len() > keep {
        out.drain(..out.len() - keep);
    }
    out
}

/// One line of a stream read by [`line`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The line's text without its end (`\n` or `\r\n`), invalid UTF-8 replaced, cut at the
    /// limit.
    pub text: String,
    /// Whether the line was longer than the limit (the rest was read and dropped).
    pub cut: bool,
}

/// Reads the next line of `reader`, keeping at most `limit` bytes of it: the rest of a longer
/// line is read and dropped, so a line without an end costs no more than the limit. Any byte
/// is accepted (a handler may print anything): the text is decoded lossily. `None` at the end
/// of the stream or on a read error.
pub async fn line<R: AsyncBufRead + Unpin>(reader: &mut R, limit: usize) -> Option<Line> {
    let mut kept = Vec::new();
    let mut cut = false;
    let mut any = false;
    loop {
        let available = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(b) => b,
        };
        any = true;
        let (chunk, ended) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        let room = limit.saturating_sub(kept.len());
        if chunk.len() > room {
            cut = true;
        }
        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = ended.unwrap_or(available.len());
        reader.consume(used);
        if ended.is_some() {
            break;
        }
    }
    if !any {
        return None;
    }
    if kept.last() == Some(&b'\r') {
        kept.pop();
    }
    Some(Line {
        text: String::from_utf8_lossy(&kept).into_owned(),
        cut,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_line_keeps_any_byte_and_no_more_than_its_limit() {
        let input: &[u8] = b"caf\xe9 ok\r\nsecond line that is long\nlast";
        let mut reader = tokio::io::BufReader::with_capacity(4, input);
        let first = line(&mut reader, 100).await.unwrap();
        assert_eq!(first.text, "caf\u{fffd} ok");
        assert!(!first.cut);
        let second = line(&mut reader, 6).await.unwrap();
        assert_eq!(second.text, "second");
        assert!(second.cut);
        assert_eq!(line(&mut reader, 100).await.unwrap().text, "last");
        assert_eq!(line(&mut reader, 100).await, None);
    }

    #[tokio::test]
    async fn a_stream_past_its_limit_is_refused_and_a_tail_keeps_only_the_end() {
        let big = vec![b'y'; 100_000];
        assert!(matches!(
            stream(&big[..], 1000).await,
            Err(ReadError::TooLarge { limit: 1000 })
        ));
        assert_eq!(stream(&b"abc"[..], 3).await.unwrap(), b"abc");
        let mut text = vec![b'x'; 50_000];
        text.extend_from_slice(b"the end");
        assert_eq!(tail(&text[..], 7).await, b"the end");
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            file(&fifo, 10),
            Err(ReadError::NotAFile { kind: "FIFO" })
        ));
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(
            file(&link, 10),
            Err(ReadError::NotAFile { kind: "device" })
        ));
        assert!(matches!(
            file(dir.path(), 10),
            Err(ReadError::NotAFile { kind: "folder" })
        ));
        assert_eq!(size(6 << 20), "6 MiB");
        assert_eq!(clip("héllo", 2), "hé…");
        assert_eq!(clip("hé", 2), "hé");
        assert_eq!(size(1000), "1000 bytes");
    }
}
