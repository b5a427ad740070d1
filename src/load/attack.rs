//! One goose attack: users sending the pool's tokens to a base URL, every answer judged and
//! recorded. goose is started with `initialize_with_config`, so it never reads authprobe's
//! command line, and without its telnet and WebSocket controllers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use goose::config::GooseConfiguration;
use goose::prelude::*;

use super::pool::Pool;
use super::record::{Recorder, Verdict, judge};
use super::scenario::Bound;

/// The methods goose can send.
pub const SENDABLE: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

/// How to run one attack.
#[derive(Clone, Debug)]
pub struct AttackPlan {
    /// Base URL requests go to (the gateway's stage URL, or a deployed stage).
    pub base_url: String,
    /// Concurrent users.
    pub users: usize,
    /// Users started per second.
    pub increase_rate: f64,
    /// How long.
    pub bound: Bound,
    /// Most requests per second across users.
    pub throttle_rps: Option<usize>,
    /// Stop after this many requests.
    pub max_requests: Option<u64>,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// What an attack did besides what the recorder holds.
#[derive(Debug)]
pub struct AttackEnd {
    /// Wall time from the first user's start to the end.
    pub duration: Duration,
    /// Whether `--max-requests` ended it.
    pub hit_max_requests: bool,
    /// Whether a stop request (Ctrl-C, SIGTERM) ended it.
    pub interrupted: bool,
}

/// Why goose could not run.
#[derive(Debug, thiserror::Error)]
#[error("goose could not run the attack: {0}")]
pub struct AttackError(String);

/// A concrete path for a route template: `{name}` becomes `1`, `{name+}` becomes `x`.
pub fn concrete_path(template: &str) -> String {
    template
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with("+}") {
                "x"
            } else if seg.starts_with('{') && seg.ends_with('}') {
                "1"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn method(name: &str) -> GooseMethod {
    match name {
        "POST" => GooseMethod::Post,
        "PUT" => GooseMethod::Put,
        "PATCH" => GooseMethod::Patch,
        "DELETE" => GooseMethod::Delete,
        "HEAD" => GooseMethod::Head,
        // ANY and GET.
        _ => GooseMethod::Get,
    }
}

struct Shared {
    pool: Arc<Pool>,
    recorder: Arc<Recorder>,
    /// Per route: method and full URL.
    targets: Vec<(GooseMethod, String)>,
    /// Per (kind, route): the request name in goose's tables, `valid GET /hello`.
    names: Vec<String>,
    started: Instant,
    sent: AtomicU64,
    max_requests: Option<u64>,
    hit_max: AtomicBool,
    stop: crate::stop::StopRequest,
}

async fn one_request(user: &mut GooseUser, shared: &Shared) -> TransactionResult {
    if let Some(signal) = shared.stop.current() {
        // A stop that came before goose cleared its killswitch at the start: pull it again.
        goose::trigger_killswitch(signal.name());
        tokio::time::sleep(Duration::from_millis(20)).await;
        return Ok(());
    }
    if let Some(max) = shared.max_requests
        && shared.sent.fetch_add(1, Ordering::Relaxed) >= max
    {
        // Enough: stop the attack; this user idles until goose notices.
        shared.hit_max.store(true, Ordering::Relaxed);
        goose::trigger_killswitch("--max-requests reached");
        tokio::time::sleep(Duration::from_millis(20)).await;
        return Ok(());
    }
    let pick = shared.pool.next();
    let (verb, url) = &shared.targets[pick.route];
    let name = &shared.names[pick.kind * shared.targets.len() + pick.route];
    let builder = user
        .get_request_builder(verb, url)?
        .header("authorization", pick.header);
    let request = GooseRequest::builder()
        .set_request_builder(builder)
        .name(name.as_str())
        .build();
    let mut goose = user.request(request).await?;
    let expect_allow = shared.pool.kinds[pick.kind].expect_allow;
    let (status, read) = match goose.response {
        Ok(response) => {
            let status = response.status().as_u16();
            let t = Instant::now();
            // Reading the body keeps the connection reusable, and counts in the latency.
            let body = response.bytes().await;
            (body.ok().map(|_| status), t.elapsed())
        }
        Err(_) => (None, Duration::ZERO),
    };
    let latency = Duration::from_micros(goose.request.response_time_micros()) + read;
    let verdict = judge(expect_allow, status);
    shared.recorder.record(
        pick.kind,
        status,
        verdict,
        latency,
        shared.started.elapsed(),
    );
    match verdict {
        Verdict::Expected => user.set_success(&mut goose.request),
        Verdict::BadAllowed => user.set_failure(
            "a bad token reached the backend",
            &mut goose.request,
            None,
            None,
        ),
        Verdict::GoodRefused => {
            user.set_failure("a good token was refused", &mut goose.request, None, None)
        }
        Verdict::Failed => {
            user.set_failure("server error or no answer", &mut goose.request, None, None)
        }
    }
}

/// Runs one attack to its end (its bound, `--max-requests`, or the killswitch a stop request
/// pulls).
pub async fn run(
    plan: &AttackPlan,
    pool: Arc<Pool>,
    recorder: Arc<Recorder>,
    stop: crate::stop::StopRequest,
) -> Result<AttackEnd, AttackError> {
    pool.rewind();
    let base = plan.base_url.trim_end_matches('/').to_string();
    let targets: Vec<(GooseMethod, String)> = pool
        .routes
        .iter()
        .map(|r| {
            (
                method(&r.method),
                format!("{base}{}", concrete_path(&r.path)),
            )
        })
        .collect();
    let names = pool
        .kinds
        .iter()
        .flat_map(|k| {
            pool.routes
                .iter()
                .map(move |r| format!("{} {}", k.kind.name(), r))
        })
        .collect();
    let shared = Arc::new(Shared {
        pool,
        recorder,
        targets,
        names,
        started: Instant::now(),
        sent: AtomicU64::new(0),
        max_requests: plan.max_requests,
        hit_max: AtomicBool::new(false),
        stop,
    });

    let mut config = GooseConfiguration::default();
    config.host = Some(base.clone());
    config.users = Some(plan.users);
    config.increase_rate = Some(format!("{}", plan.increase_rate));
    match plan.bound {
        Bound::Time(d) => config.run_time = Some(format!("{}s", d.as_secs().max(1))),
        Bound::Iterations(n) => config.iterations = Some(n),
    }
    config.throttle_requests = plan.throttle_rps;
    config.timeout = Some(format!("{}", plan.timeout.as_secs_f64()));
    // The telnet controller is on unless turned off; the WebSocket one is off by default.
    config.no_telnet = true;
    config.no_autostart = false;
    config.quiet = 1;
    config.no_print_metrics = true;
    config.no_error_summary = true;
    // The ramp counts: authprobe's own numbers cover every request (an iteration-bounded
    // run never resets them, and goose refuses the flag there). goose's own HTML report is
    // not written: it loads its charts from a CDN, so it is blank offline, and load.html
    // shows the same and more.
    config.no_reset_metrics = matches!(plan.bound, Bound::Time(_));

    let transaction_shared = shared.clone();
    let transaction = Transaction::new(Arc::new(move |user: &mut GooseUser| {
        let shared = transaction_shared.clone();
        Box::pin(async move { one_request(user, &shared).await })
    }))
    .set_name("authorize");
    let started = Instant::now();
    let attack = GooseAttack::initialize_with_config(config)
        .map_err(|e| AttackError(format!("{e:?}")))?
        .register_scenario(scenario!("authorizer").register_transaction(transaction));
    let outcome = {
        let _quiet = StdoutToStderr::new();
        attack.execute().await
    };
    let duration = started.elapsed();
    let hit_max = shared.hit_max.load(Ordering::Relaxed);
    let killed = goose::is_killswitch_triggered();
    match outcome {
        Ok(_) => {}
        Err(e) => return Err(AttackError(format!("{e:?}"))),
    }
    Ok(AttackEnd {
        duration,
        hit_max_requests: hit_max,
        interrupted: killed && !hit_max,
    })
}

/// While alive, the process's stdout goes to stderr: goose prints "N users launched." with
/// `println!` whatever its quiet setting, and authprobe's stdout carries its own report.
struct StdoutToStderr {
    saved: Option<i32>,
}

impl StdoutToStderr {
    fn new() -> Self {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // SAFETY: dup and dup2 on the standard descriptors; nothing else owns the copy.
        let saved = unsafe { libc::dup(1) };
        if saved < 0 || unsafe { libc::dup2(2, 1) } < 0 {
            if saved >= 0 {
                unsafe { libc::close(saved) };
            }
            return StdoutToStderr { saved: None };
        }
        StdoutToStderr { saved: Some(saved) }
    }
}

impl Drop for StdoutToStderr {
    fn drop(&mut self) {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        if let Some(saved) = self.saved.take() {
            // SAFETY: puts back the descriptor saved in `new` and closes the copy.
            unsafe {
                libc::dup2(saved, 1);
                libc::close(saved);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates_become_paths_goose_can_send() {
        assert_eq!(concrete_path("/hello"), "/hello");
        assert_eq!(concrete_path("/items/{id}"), "/items/1");
        assert_eq!(concrete_path("/files/{proxy+}"), "/files/x");
        assert_eq!(concrete_path("/"), "/");
    }
}
