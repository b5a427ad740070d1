//! `aws-lambda:FUNCTION`: a deployed authorizer function, invoked with Lambda's Invoke API
//! (`POST /2015-03-31/functions/FUNCTION/invocations`), signed here with SigV4, with
//! credentials from the AWS SDK's chain (`aws-config`): environment, shared config and SSO
//! profiles, web identity (GitHub Actions OIDC), credential processes, container and instance
//! roles.
//!
//! Invoke is one signed POST, so it is made here with `aws-sigv4` and the HTTP client every
//! other target uses, instead of the generated Lambda client (the largest crate of a clean
//! build; docs/PERFORMANCE.md, "Cold build"). The endpoint is found as the SDK finds it:
//! `AWS_ENDPOINT_URL_LAMBDA`, then `AWS_ENDPOINT_URL` or a profile's `endpoint_url`, then the
//! region's own (FIPS and dual-stack as configured). The tests point it at a stand-in.
//!
//! Answers map as for `lambda:` (reference/deployed-aws.md): `X-Amz-Function-Error` is a
//! function error, `Sandbox.Timedout` and a call past `--timeout` are timeouts, throttling
//! (429) and Lambda's 5xx are errors (API Gateway answers 500); a refused signature, a missing
//! function or an unreachable endpoint means the authorizer could not be asked.

use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use super::output::{Output, Stream};
use super::{Answer, AwsFunction, BoxFuture, Call, Reply, Target, TargetError, TargetStats};

/// Credentials that expire sooner than this are fetched anew before a call.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// A deployed function and how to invoke it.
pub(crate) struct AwsLambdaTarget {
    function: AwsFunction,
    region: String,
    /// The function's invocations URL.
    url: String,
    credentials: Keys,
    client: reqwest::Client,
    timeout: Duration,
    stats: std::sync::Mutex<TargetStats>,
}

/// The chain's credentials, held until they are about to expire (the chain itself caches
/// nothing: without this, every call would ask the instance role or STS again).
struct Keys {
    provider: SharedCredentialsProvider,
    held: tokio::sync::Mutex<Option<Credentials>>,
}

impl Keys {
    async fn current(&self) -> Result<Credentials, String> {
        let mut held = self.held.lock().await;
        if let Some(credentials) = held.as_ref()
            && credentials
                .expiry()
                .is_none_or(|at| at > SystemTime::now() + REFRESH_MARGIN)
        {
            return Ok(credentials.clone());
        }
        let fresh = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| chain(&e))?;
        *held = Some(fresh.clone());
        Ok(fresh)
    }
}

/// An error and its sources, `: `-joined.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        source = s.source();
    }
    text
}

impl AwsLambdaTarget {
    /// Loads the SDK configuration and checks that credentials can be had, so that a run
    /// without them stops at the start (exit 3) instead of failing every case.
    pub(crate) async fn start(
        function: &AwsFunction,
        timeout: Duration,
    ) -> Result<AwsLambdaTarget, TargetError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &function.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(profile) = &function.profile {
            loader = loader.profile_name(profile);
        }
        let config = loader.load().await;
        let region = config.region().map(ToString::to_string).ok_or_else(|| {
            TargetError::Start(
                "no AWS region: pass --region, or set AWS_REGION or a profile's region".into(),
            )
        })?;
        let provider = config.credentials_provider().ok_or_else(|| {
            TargetError::Start("no AWS credentials provider is configured".into())
        })?;
        let credentials = Keys {
            provider,
            held: Default::default(),
        };
        credentials.current().await.map_err(|e| {
            TargetError::Start(format!(
                "no AWS credentials from the SDK's chain (environment, profile, SSO, web identity, container or instance role): {e}"
            ))
        })?;
        let endpoint = endpoint(
            lambda_endpoint_from_env().or_else(|| config.endpoint_url().map(str::to_string)),
            &region,
            config.use_fips().unwrap_or(false),
            config.use_dual_stack().unwrap_or(false),
        );
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TargetError::Start(format!("cannot make an HTTPS client: {e}")))?;
        Ok(AwsLambdaTarget {
            url: format!(
                "{}/2015-03-31/functions/{}/invocations",
                endpoint.trim_end_matches('/'),
                label(&function.function)
            ),
            function: function.clone(),
            region,
            credentials,
            client,
            timeout,
            stats: Default::default(),
        })
    }

    /// The headers that sign an Invoke of `body` now.
    fn signed(
        &self,
        credentials: Credentials,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, String> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        use aws_sigv4::sign::v4;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("lambda")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let request = SignableRequest::new(
            "POST",
            &self.url,
            INVOKE_HEADERS.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        Ok(INVOKE_HEADERS
            .iter()
            .copied()
            .chain(instructions.headers())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    fn unreachable(&self, reason: String) -> TargetError {
        TargetError::Unreachable {
            url: self.describe(),
            reason,
        }
    }

    /// Invokes the function; the reply, and the tail of its log (the last 4 KB Lambda
    /// returns with `X-Amz-Log-Type: Tail`).
    async fn invoke(&self, event: &serde_json::Value) -> (Result<Reply, TargetError>, Output) {
        let payload = serde_json::to_vec(event).expect("events serialize");
        // Credentials may need the instance role, STS or SSO: within --timeout too.
        let credentials = match tokio::time::timeout(self.timeout, self.credentials.current()).await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return (
                    Err(self.unreachable(format!("no AWS credentials: {e}"))),
                    Output::default(),
                );
            }
            Err(_) => {
                return (
                    Err(self.unreachable(format!(
                        "no AWS credentials within {}",
                        humantime::format_duration(self.timeout)
                    ))),
                    Output::default(),
                );
            }
        };
        let headers = match self.signed(credentials, &payload) {
            Ok(h) => h,
            Err(e) => {
                return (
                    Err(self.unreachable(format!("cannot sign the request: {e}"))),
                    Output::default(),
                );
            }
        };
        let mut request = self.client.post(&self.url).body(payload);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut answer = match request.send().await {
            Ok(answer) => answer,
            Err(e) => {
                return (
                    Err(super::http::request_error(
                        &self.describe(),
                        self.timeout,
                        &e,
                    )),
                    Output::default(),
                );
            }
        };
        let status = answer.status();
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let function_error = header("x-amz-function-error").is_some();
        let error_type = header("x-amzn-errortype");
        let log = header("x-amz-log-result")
            .and_then(|b64| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.decode(b64).ok()
            })
            .map(|bytes| Output::from_text(Stream::Log, &String::from_utf8_lossy(&bytes)))
            .unwrap_or_default();
        let body = match super::http::read_body(&mut answer, &self.describe(), self.timeout).await {
            Ok(body) => body,
            Err(e) => return (Err(e), log),
        };
        let reply = if status.is_success() {
            self.reply(function_error, &body)
        } else {
            self.service_error(status.as_u16(), error_type, &body)
        };
        (reply, log)
    }

    fn reply(&self, function_error: bool, body: &[u8]) -> Result<Reply, TargetError> {
        match super::http::read_invoke_answer(function_error, body)? {
            // Lambda reports a function that ran past its own timeout as a function error.
            Reply::FunctionError { error_type, .. } if error_type == "Sandbox.Timedout" => {
                Err(TargetError::Timeout(self.timeout))
            }
            reply => Ok(reply),
        }
    }

    /// An answer of Lambda's own (not the function's): its error code comes in
    /// `x-amzn-ErrorType` (`Code:` and a URL) or the body's `__type`/`code`/`Type`, its
    /// message in the body's `message`/`Message`.
    fn service_error(
        &self,
        status: u16,
        error_type: Option<String>,
        body: &[u8],
    ) -> Result<Reply, TargetError> {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let field = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| json.get(k).and_then(|v| v.as_str()))
                .map(str::to_string)
        };
        let code = error_type
            .or_else(|| field(&["__type", "code", "Type"]))
            .map(|c| {
                let c = c.split(':').next().unwrap_or_default();
                c.rsplit('#').next().unwrap_or_default().to_string()
            })
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "unknown error".into());
        let message = field(&["message", "Message"])
            .unwrap_or_else(|| super::http::cut(&String::from_utf8_lossy(body)));
        match status {
            // Throttled, or Lambda could not run the function: API Gateway answers 500.
            429 | 500..=599 => Ok(Reply::FunctionError {
                error_type: code,
                message: format!("Lambda answered HTTP {status}: {message}"),
                stack: Vec::new(),
            }),
            _ => Err(self.unreachable(format!("HTTP {status}: {code}: {message}"))),
        }
    }
}

/// Headers of every Invoke, signed with it.
const INVOKE_HEADERS: &[(&str, &str)] = &[
    ("content-type", "application/json"),
    ("x-amz-log-type", "Tail"),
];

/// `AWS_ENDPOINT_URL_LAMBDA`, unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true (the SDK's
/// service-specific endpoint variable).
fn lambda_endpoint_from_env() -> Option<String> {
    let ignored = std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    std::env::var("AWS_ENDPOINT_URL_LAMBDA")
        .ok()
        .filter(|v| !v.is_empty() && !ignored)
}

/// The Lambda endpoint: the configured one, else the region's (its partition's DNS suffix,
/// FIPS and dual-stack as the SDK names them).
fn endpoint(configured: Option<String>, region: &str, fips: bool, dual_stack: bool) -> String {
    if let Some(url) = configured {
        return url;
    }
    let suffix = if region.starts_with("cn-") {
        if dual_stack {
            "api.amazonwebservices.com.cn"
        } else {
            "amazonaws.com.cn"
        }
    } else if region.starts_with("us-isob-") {
        "sc2s.sgov.gov"
    } else if region.starts_with("us-iso-") {
        "c2s.ic.gov"
    } else if dual_stack {
        "api.aws"
    } else {
        "amazonaws.com"
    };
    let service = if fips { "lambda-fips" } else { "lambda" };
    format!("https://{service}.{region}.{suffix}")
}

/// A function name (or ARN, with `:` in it) as a URL path segment: every byte but the
/// unreserved ones percent-encoded, as the SDK encodes its path labels.
fn label(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Target for AwsLambdaTarget {
    fn describe(&self) -> String {
        format!("aws-lambda:{} ({})", self.function.function, self.region)
    }

    fn call<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let started = Instant::now();
            let (reply, output) = self.invoke(&call.event).await;
            self.stats.lock().expect("lock").invocations += 1;
            Answer {
                output,
                ..Answer::new(reply, started.elapsed(), false)
            }
        })
    }

    fn stats(&self) -> TargetStats {
        self.stats.lock().expect("lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_configured_one_else_the_regions_own() {
        let at = |region, fips, dual| endpoint(None, region, fips, dual);
        assert_eq!(
            at("eu-west-1", false, false),
            "https://lambda.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            at("us-east-1", true, false),
            "https://lambda-fips.us-east-1.amazonaws.com"
        );
        assert_eq!(
            at("us-east-1", false, true),
            "https://lambda.us-east-1.api.aws"
        );
        assert_eq!(
            at("cn-north-1", false, false),
            "https://lambda.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            endpoint(Some("http://127.0.0.1:9".into()), "eu-west-1", true, true),
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn function_names_and_arns_are_one_path_segment() {
        assert_eq!(label("my-fn_1.x"), "my-fn_1.x");
        assert_eq!(
            label("arn:aws:lambda:us-east-1:123456789012:function:auth:live"),
            "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aauth%3Alive"
        );
        assert_eq!(label("a/b?c"), "a%2Fb%3Fc");
    }
}
