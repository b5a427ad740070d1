//! `lambda:` targets: authprobe hosts the Lambda Runtime API (2018-06-01) and runs the user's
//! handler as child processes under its real runtime interface client, one listener and one
//! child per execution environment.
//!
//! A job queue feeds every environment's `GET …/invocation/next`. A watchdog replaces an
//! environment whose invocation outlives the timeout; a monitor answers the invocation of a
//! child that dies with its exit status and last output, and starts a new one.
//!
//! Each invocation keeps what the handler printed while it ran ([`streams`]). A call that
//! observes its environment (`TargetOptions::observe`) also waits, after the answer, until the
//! runtime asks for the next invocation: an environment that exits or reports an error in
//! between crashed after answering, which the answer alone does not show.

mod api;
mod streams;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use super::http::{MAX_RESPONSE, read_invoke_answer};
use super::output::Output;
use super::{Answer, BoxFuture, Call, Reply, Target, TargetError, TargetOptions, TargetStats};
use crate::children::{Marker, kill_group};
use streams::Streams;

/// How long an observing call waits after the answer for the runtime to ask for the next
/// invocation (at most; the invocation timeout if that is shorter).
const SETTLE_LIMIT: Duration = Duration::from_secs(2);
/// Most of an error report (`/error`, `/init/error`) the Runtime API reads: Lambda's own limit
/// on what an invocation returns.
const MAX_ERROR_REPORT: usize = MAX_RESPONSE;
const API: &str = "/2018-06-01/runtime";

type ReplyTx = oneshot::Sender<(Result<Reply, TargetError>, bool)>;

struct Job {
    request_id: String,
    event: Value,
    reply: ReplyTx,
    /// Where the handler's output goes while this job runs.
    output: Arc<Mutex<Output>>,
    /// Told how the environment went on after the answer, when the call observes it.
    settled: Option<oneshot::Sender<Settled>>,
}

struct InFlight {
    request_id: String,
    reply: ReplyTx,
    watchdog: tokio::task::AbortHandle,
    settled: Option<oneshot::Sender<Settled>>,
}

/// An answered invocation whose environment has not yet asked for the next one.
struct Settling {
    request_id: String,
    tx: oneshot::Sender<Settled>,
    /// An error the runtime reported for the invocation after answering it.
    error_after: Option<String>,
}

/// How an environment went on after it answered.
enum Settled {
    /// It asked for the next invocation; its readers are told to catch up.
    Ready {
        error_after: Option<String>,
        streams: Arc<Streams>,
    },
    /// It exited before asking again.
    Exited {
        status: String,
        error_after: Option<String>,
    },
}

#[derive(Default)]
struct EnvState {
    generation: u64,
    alive: bool,
    ready: bool,
    cold: bool,
    spawned_at: Option<Instant>,
    in_flight: Option<InFlight>,
    settling: Option<Settling>,
    init_error: Option<String>,
    /// Why the environment cannot be used any more (it failed to start).
    failed: Option<TargetError>,
    kill: Option<oneshot::Sender<()>>,
    pid: Option<u32>,
    /// Marks the child and its descendants ([`crate::children`]).
    marker: Option<Marker>,
}

struct Env {
    addr: SocketAddr,
    /// `_LAMBDA_SERVER_PORT`: a port nobody listens on, watched while the child starts. A
    /// handler built for the retired go1.x runtime listens there (its RPC protocol) instead
    /// of calling the Runtime API.
    rpc_port: u16,
    state: Mutex<EnvState>,
    /// Bumped whenever the child changes (dies or is replaced): wakes a pending `next`.
    changed: watch::Sender<u64>,
    streams: Arc<Streams>,
}

impl Env {
    fn tail(&self) -> String {
        self.streams.tail()
    }
}

struct Shared {
    command: Vec<String>,
    options: TargetOptions,
    jobs: mpsc::UnboundedSender<Job>,
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>,
    stats: Mutex<TargetStats>,
    function_arn: String,
    shutting_down: AtomicBool,
    next_id: AtomicU64,
    /// Children spawned and not yet reaped. A monitor counts its child out only after it has
    /// decided about a replacement (counted in first), so the count never touches zero while
    /// an environment is being replaced: shutdown waits on it.
    unreaped: watch::Sender<usize>,
}

/// A handler run as child processes under its runtime interface client.
pub struct LambdaTarget {
    shared: Arc<Shared>,
    envs: Vec<Arc<Env>>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl LambdaTarget {
    /// Starts `options.concurrency` environments and waits until each asks for work.
    pub async fn start(command: Vec<String>, options: TargetOptions) -> Result<Self, TargetError> {
        let (jobs, queue) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            function_arn: format!(
                "arn:aws:lambda:{}:123456789012:function:{}",
                options.region, options.function_name
            ),
            command,
            options,
            jobs,
            queue: tokio::sync::Mutex::new(queue),
            stats: Mutex::new(TargetStats::default()),
            shutting_down: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            unreaped: watch::channel(0).0,
        });
        let mut envs = Vec::new();
        let mut servers = Vec::new();
        for _ in 0..shared.options.concurrency.max(1) {
            // Always loopback, never an address from the user: the loopback rule of
            // `crate::net` holds without a check (and so without `--expose`).
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| TargetError::Start(format!("cannot listen on 127.0.0.1: {e}")))?;
            let addr = listener
                .local_addr()
                .map_err(|e| TargetError::Start(e.to_string()))?;
            let env = Arc::new(Env {
                addr,
                rpc_port: free_port().await?,
                state: Mutex::new(EnvState::default()),
                changed: watch::channel(0).0,
                streams: Arc::new(Streams::default()),
            });
            let app = Router::new()
                .route(&format!("{API}/invocation/next"), get(api::next))
                .route(
                    &format!("{API}/invocation/{{id}}/response"),
                    post(api::response),
                )
                .route(
                    &format!("{API}/invocation/{{id}}/error"),
                    post(api::invocation_error),
                )
                .route(&format!("{API}/init/error"), post(api::init_error))
                .layer(DefaultBodyLimit::disable())
                .layer(axum::middleware::from_fn(
                    crate::diagnostics::runtime_api_calls,
                ))
                .with_state((env.clone(), shared.clone()));
            servers.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
            envs.push(env);
        }
        let target = LambdaTarget {
            shared,
            envs,
            servers,
        };
        for env in &target.envs {
            spawn_child(env.clone(), target.shared.clone())?;
        }
        // The children start side by side; waiting for them one after another costs nothing.
        for env in &target.envs {
            if let Err(e) = wait_ready(env.clone(), &target.shared).await {
                target.stop();
                return Err(e);
            }
        }
        Ok(target)
    }

    fn stop(&self) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        for env in &self.envs {
            kill(env);
        }
        for server in &self.servers {
            server.abort();
        }
    }
}

impl Drop for LambdaTarget {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port free at the time of asking.
async fn free_port() -> Result<u16, TargetError> {
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| TargetError::Start(format!("cannot listen on 127.0.0.1: {e}")))?;
    probe
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| TargetError::Start(e.to_string()))
}

/// How long a child may take to call the Runtime API before a line on stderr says what the
/// run is waiting for.
const SAY_WAITING_AFTER: Duration = Duration::from_secs(5);

/// Whether something listens on the environment's `_LAMBDA_SERVER_PORT`: a go1.x handler.
async fn speaks_go1x_rpc(env: &Env) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], env.rpc_port));
    matches!(
        tokio::time::timeout(
            Duration::from_millis(100),
            tokio::net::TcpStream::connect(addr)
        )
        .await,
        Ok(Ok(_))
    )
}

/// Waits until the environment's child polls for work, fails to initialise, or exits.
async fn wait_ready(env: Arc<Env>, shared: &Shared) -> Result<(), TargetError> {
    let limit = Duration::from_secs(30).max(shared.options.timeout.saturating_mul(3));
    let mut changed = env.changed.subscribe();
    let started = tokio::time::Instant::now();
    let deadline = started + limit;
    let mut said = false;
    loop {
        {
            let state = env.state.lock().expect("lock");
            if state.ready {
                return Ok(());
            }
            if let Some(e) = &state.failed {
                return Err(e.clone());
            }
        }
        // Woken by a change, or every 250 ms to look at the RPC port.
        let tick = (tokio::time::Instant::now() + Duration::from_millis(250)).min(deadline);
        let _ = tokio::time::timeout_at(tick, changed.changed()).await;
        if speaks_go1x_rpc(&env).await {
            kill(&env);
            return Err(TargetError::Init {
                message: format!(
                    "the handler listens on _LAMBDA_SERVER_PORT ({}) instead of calling the Runtime API: it was built for the retired go1.x runtime (aws-lambda-go before 1.18, or built without the lambda.norpc tag); rebuild it with aws-lambda-go 1.18 or later as an executable named bootstrap (runtime provided.al2023), then run it as lambda:./bootstrap",
                    env.rpc_port
                ),
                stderr_tail: env.tail(),
            });
        }
        if !said && started.elapsed() >= SAY_WAITING_AFTER {
            said = true;
            eprintln!(
                "waiting for the handler to ask for its first invocation (Runtime API at {}, up to {limit:?})…",
                env.addr
            );
        }
        if tokio::time::Instant::now() >= deadline {
            kill(&env);
            return Err(TargetError::Init {
                message: format!("the handler did not ask for an invocation within {limit:?}"),
                stderr_tail: env.tail(),
            });
        }
    }
}

fn kill(env: &Env) {
    let marker = {
        let mut state = env.state.lock().expect("lock");
        if let Some(k) = state.kill.take() {
            let _ = k.send(());
        }
        if let Some(pid) = state.pid.take() {
            // The child leads its own process group: take any grandchildren down with it.
            kill_group(pid);
        }
        state.marker.take()
    };
    // And those that left the group (`setsid`), found by their marker.
    if let Some(marker) = marker {
        marker.kill_all();
    }
}

fn child_env(
    shared: &Shared,
    env: &Env,
    workdir: &std::path::Path,
    marker: &Marker,
) -> Vec<(String, String)> {
    let o = &shared.options;
    let handler = shared.command.last().cloned().unwrap_or_default();
    let mut stream = [0u8; 8];
    aws_lc_rs::rand::fill(&mut stream).expect("system randomness");
    let stream: String = stream.iter().map(|b| format!("{b:02x}")).collect();
    let mut vars: Vec<(String, String)> = vec![
        ("AWS_LAMBDA_RUNTIME_API".into(), env.addr.to_string()),
        ("_LAMBDA_SERVER_PORT".into(), env.rpc_port.to_string()),
        ("_HANDLER".into(), handler),
        ("LAMBDA_TASK_ROOT".into(), workdir.display().to_string()),
        ("LAMBDA_RUNTIME_DIR".into(), workdir.display().to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), o.function_name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "128".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME".into(),
            format!("/aws/lambda/{}", o.function_name),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME".into(),
            format!("2026/01/01/[$LATEST]{stream}"),
        ),
        ("AWS_EXECUTION_ENV".into(), "AWS_Lambda_authprobe".into()),
        ("AWS_REGION".into(), o.region.clone()),
        ("AWS_DEFAULT_REGION".into(), o.region.clone()),
        // Fake credentials: a handler that calls AWS must not pick up the caller's own.
        ("AWS_ACCESS_KEY_ID".into(), "AKIAAUTHPROBE0000000".into()),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            "authprobe-fake-secret".into(),
        ),
        ("AWS_SESSION_TOKEN".into(), "authprobe-fake-session".into()),
        ("TZ".into(), ":UTC".into()),
        ("LANG".into(), "en_US.UTF-8".into()),
        marker.env(),
    ];
    for inherited in ["PATH", "HOME", "LD_LIBRARY_PATH", "SYSTEMROOT"] {
        if let Ok(v) = std::env::var(inherited) {
            vars.push((inherited.into(), v));
        }
    }
    vars.extend(o.env.iter().cloned());
    vars
}

/// Where a `lambda:` program is: a relative path with a `/` (`./bootstrap`,
/// `.venv/bin/python`) is looked up in the working directory first, as `cd DIR && ./bootstrap`
/// would, then in the current directory; a bare name is left to `PATH`. Err names every path
/// tried.
fn resolve_program(
    program: &str,
    workdir: &std::path::Path,
    cwd: &std::path::Path,
) -> Result<PathBuf, String> {
    let path = std::path::Path::new(program);
    if !path.is_relative() || !program.contains('/') {
        return Ok(path.to_path_buf());
    }
    let mut tried: Vec<PathBuf> = vec![workdir.join(path)];
    if workdir != cwd {
        tried.push(cwd.join(path));
    }
    if let Some(found) = tried.iter().find(|p| p.exists()) {
        return Ok(found.clone());
    }
    let names: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    Err(format!(
        "cannot run `{program}`: no such file at {}",
        names.join(" or ")
    ))
}

/// Starts a new child in `env` (a new generation); a monitor task watches it.
fn spawn_child(env: Arc<Env>, shared: Arc<Shared>) -> Result<(), TargetError> {
    if shared.shutting_down.load(Ordering::SeqCst) {
        return Ok(());
    }
    let workdir: PathBuf = match &shared.options.workdir {
        Some(d) => std::fs::canonicalize(d)
            .map_err(|e| TargetError::Start(format!("workdir {}: {e}", d.display())))?,
        None => std::env::current_dir().map_err(|e| TargetError::Start(e.to_string()))?,
    };
    let program = &shared.command[0];
    let cwd = std::env::current_dir().map_err(|e| TargetError::Start(e.to_string()))?;
    let resolved = resolve_program(program, &workdir, &cwd).map_err(TargetError::Start)?;
    let marker = Marker::new();
    let mut command = tokio::process::Command::new(&resolved);
    command
        .args(&shared.command[1..])
        .env_clear()
        .envs(child_env(&shared, &env, &workdir, &marker))
        .current_dir(&workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // Linux only: macOS has no parent-death signal, so there a child outlives an authprobe
    // that crashes or is killed with SIGKILL (Ctrl-C and normal ends still stop it).
    // SAFETY: prctl is async-signal-safe; the closure allocates nothing.
    #[cfg(target_os = "linux")]
    unsafe {
        // The child dies with authprobe, even on Ctrl-C or a crash, when no Drop runs.
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    shared.unreaped.send_modify(|n| *n += 1);
    let mut child = command.spawn().map_err(|e| {
        shared.unreaped.send_modify(|n| *n -= 1);
        TargetError::Start(format!("cannot run `{program}`: {e}"))
    })?;
    let readers = env.streams.read(child.stdout.take(), child.stderr.take());
    let (kill_tx, kill_rx) = oneshot::channel();
    let generation = {
        let mut s = env.state.lock().expect("lock");
        s.generation += 1;
        s.alive = true;
        s.ready = false;
        s.cold = true;
        s.init_error = None;
        s.spawned_at = Some(Instant::now());
        s.kill = Some(kill_tx);
        s.pid = child.id();
        s.marker = Some(marker);
        s.generation
    };
    env.changed.send_replace(generation);
    let stopping = shared.shutting_down.load(Ordering::SeqCst);
    tokio::spawn(monitor(
        env.clone(),
        shared,
        child,
        kill_rx,
        generation,
        readers,
    ));
    if stopping {
        // `stop` ran while this child was being started: it found no pid to kill.
        kill(&env);
    }
    Ok(())
}

async fn monitor(
    env: Arc<Env>,
    shared: Arc<Shared>,
    mut child: tokio::process::Child,
    kill_rx: oneshot::Receiver<()>,
    generation: u64,
    readers: Vec<tokio::task::JoinHandle<()>>,
) {
    let status = tokio::select! {
        status = child.wait() => status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
        _ = kill_rx => {
            let _ = child.kill().await;
            "killed".to_string()
        }
    };
    // The output readers end at end of file, once the child's last words are in the tail. A
    // grandchild still holding the pipes open would delay that forever: bound the wait.
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        for reader in readers {
            let _ = reader.await;
        }
    })
    .await;
    let tail = env.tail();
    // The child is reaped: it leaves the count once any replacement is counted in.
    let _counted_out = CountedOut(&shared.unreaped);
    let (respawn, marker) = {
        let mut s = env.state.lock().expect("lock");
        if s.generation != generation {
            return;
        }
        s.alive = false;
        if let Some(settling) = s.settling.take() {
            let _ = settling.tx.send(Settled::Exited {
                status: status.clone(),
                error_after: settling.error_after,
            });
        }
        if let Some(pid) = s.pid.take() {
            // Anything the child left behind in its process group goes with it.
            kill_group(pid);
        }
        let marker = s.marker.take();
        if let Some(flight) = s.in_flight.take() {
            flight.watchdog.abort();
            let cold = std::mem::replace(&mut s.cold, false);
            let _ = flight.reply.send((
                Err(TargetError::Crashed {
                    status: status.clone(),
                    stderr_tail: tail.clone(),
                }),
                cold,
            ));
            shared.stats.lock().expect("lock").replaced += 1;
        }
        let respawn = if !s.ready {
            s.failed = Some(TargetError::Init {
                message: s.init_error.clone().unwrap_or_else(|| {
                    format!("the handler exited ({status}) before asking for an invocation")
                }),
                stderr_tail: tail,
            });
            false
        } else {
            true
        };
        (respawn, marker)
    };
    // And what it started outside its group.
    if let Some(marker) = marker {
        marker.kill_all();
    }
    env.changed.send_modify(|g| *g += 1);
    if respawn
        && !shared.shutting_down.load(Ordering::SeqCst)
        && let Err(e) = spawn_child(env.clone(), shared.clone())
    {
        env.state.lock().expect("lock").failed = Some(e);
    }
}

/// Takes one reaped child out of the count when dropped, on every way out of its monitor.
struct CountedOut<'a>(&'a watch::Sender<usize>);

impl Drop for CountedOut<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl LambdaTarget {
    /// Waits until the environment that answered asks for the next invocation (its output
    /// then read to the end) or exits; says how it failed after answering, if it did.
    async fn settle(&self, settled: oneshot::Receiver<Settled>) -> Option<String> {
        let limit = SETTLE_LIMIT.min(self.shared.options.timeout);
        match tokio::time::timeout(limit, settled).await {
            Ok(Ok(Settled::Ready {
                error_after,
                streams,
            })) => {
                streams.drained().await;
                error_after.map(|e| format!("the handler reported an error after it answered: {e}"))
            }
            Ok(Ok(Settled::Exited {
                status,
                error_after,
            })) => Some(match error_after {
                Some(e) => format!(
                    "the environment exited ({status}) after it answered, having reported: {e}"
                ),
                None => format!("the environment exited ({status}) after it answered"),
            }),
            // Stopped, replaced by the watchdog, or slow to ask again: nothing to say.
            _ => None,
        }
    }
}

impl Target for LambdaTarget {
    fn describe(&self) -> String {
        format!("lambda:{}", self.shared.command.join(" "))
    }

    fn call<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let started = Instant::now();
            let failed: Vec<TargetError> = self
                .envs
                .iter()
                .filter_map(|e| e.state.lock().expect("lock").failed.clone())
                .collect();
            if failed.len() == self.envs.len() {
                return Answer::new(Err(failed[0].clone()), started.elapsed(), false);
            }
            let n = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
            let request_id = format!(
                "{:08x}-authp-robe-{:04x}-{n:012x}",
                std::process::id(),
                n & 0xffff
            );
            let (tx, rx) = oneshot::channel();
            let output = Arc::new(Mutex::new(Output::default()));
            let (settled_tx, settled_rx) = if self.shared.options.observe {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            } else {
                (None, None)
            };
            let _ = self.shared.jobs.send(Job {
                request_id,
                event: call.event.clone(),
                reply: tx,
                output: output.clone(),
                settled: settled_tx,
            });
            // A job no environment takes (every one is restarting) still ends.
            let limit = self
                .shared
                .options
                .timeout
                .saturating_mul(2)
                .saturating_add(Duration::from_secs(30));
            let (reply, cold) = match tokio::time::timeout(limit, rx).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => (
                    Err(TargetError::Start(
                        "the invocation was dropped by the harness".into(),
                    )),
                    false,
                ),
                Err(_) => (Err(TargetError::Timeout(limit)), false),
            };
            let elapsed = started.elapsed();
            let after_answer = match settled_rx {
                Some(settled) if reply.is_ok() => self.settle(settled).await,
                _ => None,
            };
            let output = std::mem::take(&mut *output.lock().expect("lock"));
            Answer {
                output,
                after_answer,
                ..Answer::new(reply, elapsed, cold)
            }
        })
    }

    fn stats(&self) -> TargetStats {
        self.shared.stats.lock().expect("lock").clone()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stop();
            // Wait until every monitor has reaped its child, so none is left <defunct> for the
            // rest of the process (or handed to init after it). SIGKILL makes this quick; the
            // bound only guards against a kernel that will not let go.
            let mut unreaped = self.shared.unreaped.subscribe();
            let _ =
                tokio::time::timeout(Duration::from_secs(2), unreaped.wait_for(|n| *n == 0)).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_program_is_looked_up_in_the_workdir_first_then_the_current_directory() {
        let workdir = tempfile::tempdir().unwrap();
        let cwd = tempfile::tempdir().unwrap();
        std::fs::write(workdir.path().join("bootstrap"), "").unwrap();
        std::fs::write(cwd.path().join("bootstrap"), "").unwrap();
        std::fs::create_dir_all(cwd.path().join(".venv/bin")).unwrap();
        std::fs::write(cwd.path().join(".venv/bin/python"), "").unwrap();
        let resolve = |p| resolve_program(p, workdir.path(), cwd.path());
        assert_eq!(
            resolve("./bootstrap").unwrap(),
            workdir.path().join("./bootstrap")
        );
        assert_eq!(
            resolve(".venv/bin/python").unwrap(),
            cwd.path().join(".venv/bin/python")
        );
        assert_eq!(resolve("python3").unwrap(), PathBuf::from("python3"));
        let err = resolve("./missing").unwrap_err();
        assert!(
            err.contains(&workdir.path().join("./missing").display().to_string())
                && err.contains(&cwd.path().join("./missing").display().to_string()),
            "{err}"
        );
    }
}
