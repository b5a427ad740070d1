//! A child's stdout and stderr: read to the end whatever it prints, kept as a tail for crash
//! reports and, line by line, as the output of the invocation in flight
//! ([`crate::target::output`]).
//!
//! A call that observes its environment waits after the answer until the runtime asks for
//! the next invocation, then until the readers have taken everything the handler wrote
//! before that ([`Streams::drained`]): a line printed just before `return` is in the pipe
//! before the answer is posted, but a reader may not have read it yet.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, BufReader};

use crate::target::output::{MAX_LINE, Sink, Stream};

/// Lines of the tail a crash report shows.
const TAIL_LINES: usize = 40;
/// How long [`Streams::drained`] waits at most for the readers to catch up.
const DRAIN_LIMIT: Duration = Duration::from_millis(100);

/// A child's stdout or stderr, read as bytes.
type Pipeline = Box<dyn AsyncRead + Send + Unpin>;

/// One pipe's state, as a waiting call sees it.
#[derive(Default)]
struct Pipe {
    /// Its descriptor while a reader holds it open; -1 once the reader has ended.
    fd: AtomicI32,
    /// Whether the reader holds bytes it has read but not yet made lines of.
    buffered: AtomicBool,
}

/// An environment's output: the tail, where lines of the call in flight go, and the pipes of
/// the current child.
#[derive(Default)]
pub(super) struct Streams {
    tail: Mutex<VecDeque<String>>,
    /// The output of the invocation in flight.
    pub(super) sink: Sink,
    pipes: [Pipe; 2],
}

impl Streams {
    /// The last lines the current child printed.
    pub(super) fn tail(&self) -> String {
        self.tail
            .lock()
            .expect("lock")
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Starts reading a new child's pipes; returns the reader tasks, which end at end of file.
    pub(super) fn read(
        self: &Arc<Self>,
        stdout: Option<tokio::process::ChildStdout>,
        stderr: Option<tokio::process::ChildStderr>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.tail.lock().expect("lock").clear();
        let mut readers = Vec::new();
        let pipes: [(Stream, Option<(i32, Pipeline)>); 2] = [
            (
                Stream::Stdout,
                stdout.map(|s| (raw_fd(&s), Box::new(s) as Pipeline)),
            ),
            (
                Stream::Stderr,
                stderr.map(|s| (raw_fd(&s), Box::new(s) as Pipeline)),
            ),
        ];
        for (i, (stream, pipe)) in pipes.into_iter().enumerate() {
            let Some((fd, pipe)) = pipe else {
                self.pipes[i].fd.store(-1, Ordering::SeqCst);
                continue;
            };
            self.pipes[i].fd.store(fd, Ordering::SeqCst);
            self.pipes[i].buffered.store(false, Ordering::SeqCst);
            let streams = self.clone();
            // Read as bytes until the end of the stream, whatever the handler prints: a byte
            // that is not UTF-8 or a line without an end must never stop the reader, or the
            // pipe fills (or closes) and the handler's next write fails.
            readers.push(tokio::spawn(async move {
                let mut reader = BufReader::new(pipe);
                while let Some(line) = crate::bounded::line(&mut reader, MAX_LINE).await {
                    let mut text = line.text;
                    if line.cut {
                        text.push_str(" […line cut]");
                    }
                    streams.sink.push(stream, &text);
                    {
                        let mut t = streams.tail.lock().expect("lock");
                        if t.len() == TAIL_LINES {
                            t.pop_front();
                        }
                        t.push_back(text);
                    }
                    streams.pipes[i]
                        .buffered
                        .store(!reader.buffer().is_empty(), Ordering::SeqCst);
                }
                // The descriptor closes with the reader: never ask about it again.
                streams.pipes[i].fd.store(-1, Ordering::SeqCst);
                streams.pipes[i].buffered.store(false, Ordering::SeqCst);
            }));
        }
        readers
    }

    /// Waits (at most [`DRAIN_LIMIT`]) until the readers have taken every byte written so far:
    /// the pipes are empty and no reader holds an unfinished line, twice in a row.
    pub(super) async fn drained(&self) {
        let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
        let mut quiet = 0;
        while quiet < 2 && tokio::time::Instant::now() < deadline {
            let idle = self.pipes.iter().all(|p| {
                !p.buffered.load(Ordering::SeqCst) && unread(p.fd.load(Ordering::SeqCst)) == 0
            });
            quiet = if idle { quiet + 1 } else { 0 };
            if quiet < 2 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

#[cfg(unix)]
fn raw_fd(s: &impl std::os::fd::AsRawFd) -> i32 {
    s.as_raw_fd()
}

#[cfg(not(unix))]
fn raw_fd<T>(_: &T) -> i32 {
    -1
}

/// Bytes waiting in a pipe (0 for a closed one, or where the platform cannot tell).
fn unread(fd: i32) -> usize {
    #[cfg(unix)]
    if fd >= 0 {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one c_int; a descriptor closed meanwhile gives EBADF.
        if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } == 0 {
            return usize::try_from(n).unwrap_or(0);
        }
    }
    let _ = fd;
    0
}
