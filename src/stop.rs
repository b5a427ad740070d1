//! Stopping on request: SIGINT (Ctrl-C) and SIGTERM end a run early but cleanly. The runner
//! finishes nothing new, stops its targets (and every process they started), writes what it
//! has, marked as interrupted, and the process exits 128 + the signal number, as shells expect.

use tokio::sync::watch;

/// A signal that asked the run to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Signal {
    /// Ctrl-C.
    Sigint,
    /// `kill`, a CI runner's cancel, a container stop.
    Sigterm,
}

impl Signal {
    /// `SIGINT` or `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Sigint => "SIGINT",
            Signal::Sigterm => "SIGTERM",
        }
    }

    /// The exit code a shell reports for a process ended by this signal: 130 or 143.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Sigint => 130,
            Signal::Sigterm => 143,
        }
    }
}

/// Where a runner learns that it should stop. Cheap to clone; [`StopRequest::never`] for runs
/// nobody can interrupt (tests, benches).
#[derive(Clone, Debug)]
pub struct StopRequest(watch::Receiver<Option<Signal>>);

impl StopRequest {
    /// A request that never comes.
    pub fn never() -> Self {
        // The sender is dropped: `requested` then waits forever, `current` stays `None`.
        StopRequest(watch::channel(None).1)
    }

    /// A request and the handle that makes it (for tests, or a caller with its own signals).
    pub fn manual() -> (watch::Sender<Option<Signal>>, Self) {
        let (tx, rx) = watch::channel(None);
        (tx, StopRequest(rx))
    }

    /// Listens for SIGINT and SIGTERM from now on.
    pub fn from_signals() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let which = tokio::select! {
                _ = int.recv() => Signal::Sigint,
                _ = term.recv() => Signal::Sigterm,
            };
            let _ = tx.send(Some(which));
            // Keep the handlers installed: a second signal must not kill the process halfway
            // through stopping its children and writing the report.
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
        });
        Ok(StopRequest(rx))
    }

    /// The signal, if one came.
    pub fn current(&self) -> Option<Signal> {
        *self.0.borrow()
    }

    /// Waits until a stop is requested (forever, if it never is).
    pub async fn requested(&self) -> Signal {
        let mut rx = self.0.clone();
        loop {
            if let Some(s) = *rx.borrow_and_update() {
                return s;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
