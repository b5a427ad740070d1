//! How a request reaches the authorizer under test. One trait, four kinds:
//!
//! - `builtin:PROFILE`: a reference authorizer, in process;
//! - `lambda:COMMAND…`: a handler in any language, run as child processes under its real
//!   runtime interface client against the Lambda Runtime API that authprobe hosts;
//! - `invoke:URL`: a Lambda invoke endpoint (RIE, `sam local start-lambda`, `cargo lambda watch`);
//! - `url:URL`: a deployed API Gateway route, judged by HTTP status.

#[cfg(feature = "aws")]
mod aws;
pub mod crash;
mod http;
pub mod lambda;
pub mod output;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::authorizer::{Authorizer, AuthorizerConfig, AuthorizerError};
use crate::event::ClientRequest;
use crate::policy::{self, ApiKind, Decision};
use crate::tokens::Profile;

/// A boxed future, for the object-safe [`Target`] trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the authorizer answered, before it is judged.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// The function returned this document.
    Response(Value),
    /// The function raised an error.
    FunctionError {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`: exactly `Unauthorized` means 401.
        message: String,
        /// `stackTrace`, one frame a line, when the runtime sent one.
        stack: Vec<String>,
    },
    /// An HTTP answer of a deployed API (`url:` targets).
    Http {
        /// Status code.
        status: u16,
        /// Body, possibly cut.
        body: String,
    },
}

/// The authorizer misbehaved so that API Gateway would answer 500 (`error` outcomes), or the
/// target could not be asked at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// No answer within the timeout; the execution environment was replaced.
    #[error("timeout: no answer within {0:?}")]
    Timeout(Duration),
    /// The child process died during the invocation.
    #[error("the handler process exited ({status}) during the invocation{}", tail(.stderr_tail))]
    Crashed {
        /// Exit status as text.
        status: String,
        /// Last lines it printed.
        stderr_tail: String,
    },
    /// The handler could not initialise (e.g. it does not import).
    #[error("init error: {message}{}", tail(.stderr_tail))]
    Init {
        /// What the runtime reported, or how the process ended.
        message: String,
        /// Last lines it printed.
        stderr_tail: String,
    },
    /// The answer is not JSON.
    #[error("the answer is not JSON: {0}")]
    NotJson(String),
    /// The answer is larger than Lambda's 6 MB response limit.
    #[error("the answer is larger than 6 MB ({0} bytes or more)")]
    Oversized(usize),
    /// A deployed API answered with a redirect (`url:`), which is never followed.
    #[error("redirect {status} to {location}")]
    Redirect {
        /// The 3xx status.
        status: u16,
        /// Where it pointed.
        location: String,
    },
    /// The target could not be reached: not the authorizer's fault.
    #[error("cannot reach {}: {}", redact_userinfo(url), redact_userinfo(reason))]
    Unreachable {
        /// Where.
        url: String,
        /// Why.
        reason: String,
    },
    /// The target could not be started: not the authorizer's answer.
    #[error("cannot start the target: {0}")]
    Start(String),
    /// Not sent: a run may send a deployed target only the requests its cases need.
    #[error("not sent: the {0} request(s) this run may send to a deployed target are spent")]
    BudgetSpent(u64),
}

fn tail(t: &str) -> String {
    if t.trim().is_empty() {
        String::new()
    } else {
        format!("\n--- last output ---\n{}", t.trim_end())
    }
}

impl TargetError {
    /// True when the fault is the harness's or the network's, not an answer of the authorizer.
    pub fn is_could_not_ask(&self) -> bool {
        matches!(
            self,
            TargetError::Unreachable { .. } | TargetError::Start(_) | TargetError::BudgetSpent(_)
        )
    }
}

/// One call to a target: the event for Lambda-style targets, the client request for `url:`.
#[derive(Clone, Debug)]
pub struct Call {
    /// The event an authorizer receives.
    pub event: Value,
    /// The request a client makes (method, path, Authorization).
    pub request: ClientRequest,
}

/// What the target did with a call, with timing.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The reply, or what went wrong.
    pub reply: Result<Reply, TargetError>,
    /// Time from sending to the answer.
    pub elapsed: Duration,
    /// Whether the call started an execution environment (cold start).
    pub cold: bool,
    /// What the handler printed while it answered (`lambda:`; Lambda's log tail for
    /// `aws-lambda:`; nothing for the others).
    pub output: output::Output,
    /// How the environment failed after it had answered (exited, or reported an error for
    /// the answered call): the answer stands, the environment did not. Only targets that
    /// observe their environments (`TargetOptions::observe`) see it.
    pub after_answer: Option<String>,
}

impl Answer {
    /// An answer with no output and nothing after it.
    pub fn new(reply: Result<Reply, TargetError>, elapsed: Duration, cold: bool) -> Answer {
        Answer {
            reply,
            elapsed,
            cold,
            output: output::Output::default(),
            after_answer: None,
        }
    }
}

/// Counters a target keeps.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TargetStats {
    /// Calls answered.
    pub invocations: u64,
    /// Start-up times of execution environments (spawn to first poll), in milliseconds.
    pub cold_starts_ms: Vec<f64>,
    /// Environments replaced after a timeout or crash.
    pub replaced: u64,
}

/// Anything that can answer authorizer calls.
pub trait Target: Send + Sync {
    /// A short description (`builtin:jwks`, `lambda:python3 -m awslambdaric app.handler`).
    fn describe(&self) -> String;
    /// Sends one call and waits for its answer.
    fn call<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Answer>;
    /// Counters so far.
    fn stats(&self) -> TargetStats {
        TargetStats::default()
    }
    /// Stops child processes and servers.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// A parsed TARGET argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSpec {
    /// `builtin:PROFILE`.
    Builtin(Profile),
    /// `lambda:COMMAND…`.
    Lambda(Vec<String>),
    /// `invoke:URL`.
    Invoke(String),
    /// `url:URL`.
    Url(String),
    /// `aws-lambda:FUNCTION`: a deployed function, by Lambda's Invoke API.
    AwsLambda(AwsFunction),
}

/// A deployed Lambda function and how to reach it (`aws-lambda:FUNCTION`, `--region`,
/// `--profile-name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsFunction {
    /// Name, full ARN or partial ARN; a `:alias` or `:version` suffix is the qualifier.
    pub function: String,
    /// The region; `None`: the SDK's (AWS_REGION, the profile's).
    pub region: Option<String>,
    /// The shared-config profile; `None`: the SDK's (AWS_PROFILE, else `default`).
    pub profile: Option<String>,
}

impl TargetSpec {
    /// `url:` and `aws-lambda:`: someone's deployed stage or function, billed and
    /// rate-limited, which a run sends only the requests its cases need.
    pub fn is_deployed(&self) -> bool {
        matches!(self, TargetSpec::Url(_) | TargetSpec::AwsLambda(_))
    }
}

/// A target that passes at most `limit` calls on and refuses the rest unsent
/// ([`TargetError::BudgetSpent`]): what a run promises a deployed target, kept by
/// construction rather than by each case's care.
pub struct Budgeted {
    inner: Arc<dyn Target>,
    limit: u64,
    sent: std::sync::atomic::AtomicU64,
}

impl Budgeted {
    /// `inner`, allowed `limit` calls.
    pub fn new(inner: Arc<dyn Target>, limit: u64) -> Budgeted {
        Budgeted {
            inner,
            limit,
            sent: Default::default(),
        }
    }

    /// Calls passed on so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The most calls it passes on.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

impl Target for Budgeted {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn call<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Answer> {
        use std::sync::atomic::Ordering;
        Box::pin(async move {
            let taken = self
                .sent
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < self.limit).then_some(n + 1)
                });
            if taken.is_err() {
                return Answer::new(
                    Err(TargetError::BudgetSpent(self.limit)),
                    Duration::ZERO,
                    false,
                );
            }
            self.inner.call(call).await
        })
    }

    fn stats(&self) -> TargetStats {
        self.inner.stats()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.inner.shutdown()
    }
}

impl FromStr for TargetSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, rest) = s.split_once(':').ok_or_else(|| {
            format!("`{s}` is not a target: write builtin:PROFILE, lambda:COMMAND, invoke:URL, url:URL or aws-lambda:FUNCTION")
        })?;
        match kind {
            "builtin" => {
                use clap::ValueEnum;
                Profile::from_str(rest, true).map(TargetSpec::Builtin).map_err(|_| {
                    format!("`{rest}` is not a built-in authorizer: use static, hs256, jwks or cognito")
                })
            }
            "lambda" => {
                let words = split_words(rest)?;
                if words.is_empty() {
                    return Err(
                        "lambda: needs a command, e.g. lambda:python3 -m awslambdaric app.handler"
                            .into(),
                    );
                }
                Ok(TargetSpec::Lambda(words))
            }
            "invoke" | "url" if rest.starts_with("http://") || rest.starts_with("https://") => {
                Ok(if kind == "invoke" {
                    TargetSpec::Invoke(rest.to_string())
                } else {
                    TargetSpec::Url(rest.to_string())
                })
            }
            "invoke" | "url" => Err(format!("`{rest}` is not an http(s) URL")),
            "aws-lambda" if !rest.trim().is_empty() && !rest.contains(char::is_whitespace) => {
                Ok(TargetSpec::AwsLambda(AwsFunction {
                    function: rest.to_string(),
                    region: None,
                    profile: None,
                }))
            }
            "aws-lambda" => Err(format!(
                "`{rest}` is not a function: write aws-lambda:NAME, aws-lambda:NAME:ALIAS or aws-lambda:ARN"
            )),
            other => Err(format!(
                "`{other}:` is not a target kind: use builtin:, lambda:, invoke:, url: or aws-lambda:"
            )),
        }
    }
}

/// Shows a target with any credentials in its URL replaced by `***`: this is the form that
/// goes to the terminal, reports and snapshot paths.
impl std::fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetSpec::Builtin(p) => write!(f, "builtin:{p}"),
            TargetSpec::Lambda(words) => write!(f, "lambda:{}", words.join(" ")),
            TargetSpec::Invoke(url) => write!(f, "invoke:{}", redact_userinfo(url)),
            TargetSpec::Url(url) => write!(f, "url:{}", redact_userinfo(url)),
            TargetSpec::AwsLambda(function) => write!(f, "aws-lambda:{}", function.function),
        }
    }
}

pub use crate::net::redact_userinfo;

/// Splits a command line on spaces, honouring single and double quotes.
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("unclosed quote in `{s}`"));
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// How targets are started.
#[derive(Clone, Debug)]
pub struct TargetOptions {
    /// Extra environment for `lambda:` children (placeholders already resolved).
    pub env: Vec<(String, String)>,
    /// Working directory (and `LAMBDA_TASK_ROOT`) of `lambda:` children.
    pub workdir: Option<PathBuf>,
    /// Execution environments of a `lambda:` target.
    pub concurrency: usize,
    /// Invocation timeout.
    pub timeout: Duration,
    /// Function name given to children and used in invoke URLs.
    pub function_name: String,
    /// `AWS_REGION`.
    pub region: String,
    /// The reference authorizer's settings, for `builtin:`.
    pub builtin: Option<AuthorizerConfig>,
    /// After each answer, wait until the environment is ready for the next call, so that all
    /// of the call's output is read and a crash after the answer is seen (conform, invoke).
    /// Load leaves it off: it would add that wait to every request's latency.
    pub observe: bool,
}

impl Default for TargetOptions {
    fn default() -> Self {
        TargetOptions {
            env: Vec::new(),
            workdir: None,
            concurrency: 1,
            timeout: Duration::from_secs(3),
            function_name: "authprobe-authorizer".into(),
            region: "us-east-1".into(),
            builtin: None,
            observe: false,
        }
    }
}

/// Starts the target `spec` names.
pub async fn start(
    spec: &TargetSpec,
    options: TargetOptions,
) -> Result<Arc<dyn Target>, TargetError> {
    match spec {
        TargetSpec::Builtin(profile) => {
            let config = options
                .builtin
                .clone()
                .filter(|c| c.profile == *profile)
                .ok_or_else(|| TargetError::Start(format!("no settings for builtin:{profile}")))?;
            Ok(Arc::new(Builtin {
                authorizer: Authorizer::new(config),
                stats: std::sync::Mutex::new(TargetStats::default()),
            }))
        }
        TargetSpec::Lambda(command) => Ok(Arc::new(
            lambda::LambdaTarget::start(command.clone(), options).await?,
        )),
        TargetSpec::Invoke(url) => Ok(Arc::new(http::InvokeTarget::new(url, &options))),
        TargetSpec::Url(url) => Ok(Arc::new(http::UrlTarget::new(url, &options))),
        #[cfg(feature = "aws")]
        TargetSpec::AwsLambda(function) => Ok(Arc::new(
            aws::AwsLambdaTarget::start(function, options.timeout).await?,
        )),
        #[cfg(not(feature = "aws"))]
        TargetSpec::AwsLambda(_) => Err(TargetError::Start(
            "this authprobe was built without the `aws` feature: rebuild with default features"
                .into(),
        )),
    }
}

struct Builtin {
    authorizer: Authorizer,
    stats: std::sync::Mutex<TargetStats>,
}

impl Target for Builtin {
    fn describe(&self) -> String {
        format!("builtin:{}", self.authorizer.config().profile)
    }

    fn call<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            let reply = match self.authorizer.handle(&call.event).await {
                Ok(response) => Reply::Response(response),
                Err(e @ AuthorizerError::Unauthorized(_)) => Reply::FunctionError {
                    error_type: "Unauthorized".into(),
                    message: e.to_string(),
                    stack: Vec::new(),
                },
                Err(e) => Reply::FunctionError {
                    error_type: "BadEvent".into(),
                    message: e.to_string(),
                    stack: Vec::new(),
                },
            };
            self.stats.lock().expect("lock").invocations += 1;
            Answer::new(Ok(reply), started.elapsed(), false)
        })
    }

    fn stats(&self) -> TargetStats {
        self.stats.lock().expect("lock").clone()
    }
}

/// The four observed outcomes of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The request goes through.
    Allow,
    /// Explicit or implicit deny: API Gateway answers 403.
    Deny,
    /// The error `Unauthorized`: API Gateway answers 401.
    Unauthorized,
    /// Anything else: API Gateway answers 500.
    Error,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Error => "error",
        })
    }
}

/// Judges a reply the way API Gateway would for `arn`; the string says why.
pub fn classify(reply: &Result<Reply, TargetError>, api: ApiKind, arn: &str) -> (Outcome, String) {
    match reply {
        Ok(Reply::Response(doc)) => match policy::evaluate(doc, api, arn) {
            Ok(Decision::Allow) => (Outcome::Allow, "policy allows the method".into()),
            Ok(Decision::ExplicitDeny) => {
                (Outcome::Deny, "policy denies the method explicitly".into())
            }
            Ok(Decision::ImplicitDeny) => (Outcome::Deny, "no statement allows the method".into()),
            Err(refused) => (
                Outcome::Error,
                format!("API Gateway would refuse the response: {refused}"),
            ),
        },
        Ok(Reply::FunctionError { message, .. }) if message == "Unauthorized" => {
            (Outcome::Unauthorized, "raised Unauthorized".into())
        }
        Ok(Reply::FunctionError {
            error_type,
            message,
            stack,
        }) => (Outcome::Error, crash::describe(error_type, message, stack)),
        Ok(Reply::Http { status, .. }) => match status {
            200..=299 => (Outcome::Allow, format!("HTTP {status}")),
            401 => (Outcome::Unauthorized, "HTTP 401".into()),
            403 => (Outcome::Deny, "HTTP 403".into()),
            _ => (Outcome::Error, format!("HTTP {status}")),
        },
        Err(e) => (Outcome::Error, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers `{}` to everything and counts what reached it.
    #[derive(Default)]
    struct Counting(std::sync::atomic::AtomicU64);

    impl Target for Counting {
        fn describe(&self) -> String {
            "counting".into()
        }
        fn call<'a>(&'a self, _: &'a Call) -> BoxFuture<'a, Answer> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::pin(async {
                Answer::new(
                    Ok(Reply::Response(serde_json::json!({}))),
                    Duration::ZERO,
                    false,
                )
            })
        }
    }

    #[tokio::test]
    async fn a_budgeted_target_passes_on_its_limit_and_refuses_the_rest_unsent() {
        let inner = Arc::new(Counting::default());
        let budgeted = Budgeted::new(inner.clone(), 2);
        let call = Call {
            event: serde_json::json!({}),
            request: ClientRequest::get("/hello", None),
        };
        for _ in 0..2 {
            assert!(budgeted.call(&call).await.reply.is_ok());
        }
        let refused = budgeted.call(&call).await.reply.unwrap_err();
        assert_eq!(refused, TargetError::BudgetSpent(2));
        assert!(
            refused.is_could_not_ask(),
            "never judged as the authorizer's answer"
        );
        assert_eq!(inner.0.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert_eq!(budgeted.sent(), 2);
    }

    #[test]
    fn credentials_in_urls_are_redacted_wherever_they_appear() {
        assert_eq!(
            redact_userinfo("url:https://u:p@h.example/dev"),
            "url:https://***@h.example/dev"
        );
        assert_eq!(
            redact_userinfo("a http://x@h/ and https://k:s@@h2?q=@x end"),
            "a http://***@h/ and https://***@h2?q=@x end"
        );
        assert_eq!(redact_userinfo("http://h/p@q"), "http://h/p@q");
        assert_eq!(redact_userinfo("no url here"), "no url here");
    }

    #[test]
    fn target_grammar_reads_each_kind() {
        assert_eq!(
            "builtin:jwks".parse(),
            Ok(TargetSpec::Builtin(Profile::Jwks))
        );
        assert_eq!(
            "lambda:python3 -m awslambdaric 'app.handler'".parse(),
            Ok(TargetSpec::Lambda(vec![
                "python3".into(),
                "-m".into(),
                "awslambdaric".into(),
                "app.handler".into()
            ]))
        );
        assert_eq!(
            "invoke:http://127.0.0.1:9000".parse(),
            Ok(TargetSpec::Invoke("http://127.0.0.1:9000".into()))
        );
        assert!(
            "builtin:nope"
                .parse::<TargetSpec>()
                .unwrap_err()
                .contains("static, hs256, jwks or cognito")
        );
        assert!("url:ftp://x".parse::<TargetSpec>().is_err());
        assert!("lambda:".parse::<TargetSpec>().is_err());
        assert!("jwks".parse::<TargetSpec>().is_err());
    }

    #[test]
    fn only_exactly_unauthorized_is_a_401() {
        let arn = "arn:aws:execute-api:us-east-1:1:a/prod/GET/x";
        let err = |m: &str| {
            Ok(Reply::FunctionError {
                error_type: "Exception".into(),
                message: m.into(),
                stack: Vec::new(),
            })
        };
        assert_eq!(
            classify(&err("Unauthorized"), ApiKind::Rest, arn).0,
            Outcome::Unauthorized
        );
        assert_eq!(
            classify(&err("unauthorized"), ApiKind::Rest, arn).0,
            Outcome::Error
        );
        assert_eq!(
            classify(
                &Err(TargetError::Timeout(Duration::from_secs(3))),
                ApiKind::Rest,
                arn
            )
            .0,
            Outcome::Error
        );
    }
}
