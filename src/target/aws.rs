//! `aws-lambda:FUNCTION`: a deployed authorizer function, invoked with Lambda's Invoke API
//! (`POST /2015-03-31/functions/FUNCTION/invocations`, SigV4) through the AWS SDK for Rust,
//! with credentials from the SDK's chain: environment, shared config and SSO profiles, web
//! identity (GitHub Actions OIDC), container and instance roles. The SDK also reads
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_LAMBDA`, which the tests point at a stand-in.
//!
//! Answers map as for `lambda:` (reference/deployed-aws.md): `X-Amz-Function-Error` is a
//! function error, `Sandbox.Timedout` and a call past `--timeout` are timeouts, throttling
//! (429) and Lambda's 5xx are errors (API Gateway answers 500); a refused signature, a missing
//! function or an unreachable endpoint means the authorizer could not be asked.

use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::primitives::Blob;

use super::output::{Output, Stream};
use super::{Answer, AwsFunction, BoxFuture, Call, Reply, Target, TargetError, TargetStats};

/// A deployed function and the Lambda client that invokes it.
pub(crate) struct AwsLambdaTarget {
    function: AwsFunction,
    region: String,
    client: aws_sdk_lambda::Client,
    timeout: Duration,
    stats: std::sync::Mutex<TargetStats>,
}

impl AwsLambdaTarget {
    /// Loads the SDK configuration and checks that credentials can be had, so that a run
    /// without them stops at the start (exit 3) instead of failing every case.
    pub(crate) async fn start(
        function: &AwsFunction,
        timeout: Duration,
    ) -> Result<AwsLambdaTarget, TargetError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            // One invocation per case: a retried throttle would hide itself and count twice.
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(timeout)
                    .operation_attempt_timeout(timeout)
                    .build(),
            );
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
        provider.provide_credentials().await.map_err(|e| {
            TargetError::Start(format!(
                "no AWS credentials from the SDK's chain (environment, profile, SSO, web identity, container or instance role): {}",
                DisplayErrorContext(&e)
            ))
        })?;
        // The SDK reads a whole answer before looking at it; this client stops at Lambda's
        // 6 MB, so a hostile endpoint's endless payload costs no more than that.
        let inner = config
            .http_client()
            .unwrap_or_else(capped::default_https_client);
        let lambda = aws_sdk_lambda::config::Builder::from(&config)
            .http_client(capped::client(inner, super::http::MAX_RESPONSE));
        Ok(AwsLambdaTarget {
            function: function.clone(),
            region,
            client: aws_sdk_lambda::Client::from_conf(lambda.build()),
            timeout,
            stats: Default::default(),
        })
    }

    /// Invokes the function; the reply, and the tail of its log (the last 4 KB Lambda
    /// returns with `LogType: Tail`).
    async fn invoke(&self, event: &serde_json::Value) -> (Result<Reply, TargetError>, Output) {
        let payload = serde_json::to_vec(event).expect("events serialize");
        let sent = self
            .client
            .invoke()
            .function_name(&self.function.function)
            .log_type(aws_sdk_lambda::types::LogType::Tail)
            .payload(Blob::new(payload))
            .send()
            .await;
        let output = match sent {
            Ok(output) => output,
            Err(e) => return (self.service_error(e), Output::default()),
        };
        let log = output
            .log_result()
            .and_then(|b64| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.decode(b64).ok()
            })
            .map(|bytes| Output::from_text(Stream::Log, &String::from_utf8_lossy(&bytes)))
            .unwrap_or_default();
        (self.reply(&output), log)
    }

    fn reply(
        &self,
        output: &aws_sdk_lambda::operation::invoke::InvokeOutput,
    ) -> Result<Reply, TargetError> {
        let body = output.payload().map_or(&[][..], Blob::as_ref);
        let reply = super::http::read_invoke_answer(output.function_error().is_some(), body)?;
        match reply {
            // Lambda reports a function that ran past its own timeout as a function error.
            Reply::FunctionError { error_type, .. } if error_type == "Sandbox.Timedout" => {
                Err(TargetError::Timeout(self.timeout))
            }
            reply => Ok(reply),
        }
    }

    fn service_error(
        &self,
        e: SdkError<
            aws_sdk_lambda::operation::invoke::InvokeError,
            aws_sdk_lambda::config::http::HttpResponse,
        >,
    ) -> Result<Reply, TargetError> {
        let unreachable = |reason: String| TargetError::Unreachable {
            url: format!("aws-lambda:{} ({})", self.function.function, self.region),
            reason,
        };
        match e {
            SdkError::TimeoutError(_) => Err(TargetError::Timeout(self.timeout)),
            SdkError::DispatchFailure(failure) if failure.is_timeout() => {
                Err(TargetError::Timeout(self.timeout))
            }
            SdkError::ServiceError(context) => {
                let status = context.raw().status().as_u16();
                let err = context.err();
                let code = err.code().unwrap_or("unknown error").to_string();
                let message = err.message().unwrap_or_default().to_string();
                match status {
                    // Throttled, or Lambda could not run the function: API Gateway answers 500.
                    429 | 500..=599 => Ok(Reply::FunctionError {
                        error_type: code,
                        message: format!("Lambda answered HTTP {status}: {message}"),
                        stack: Vec::new(),
                    }),
                    _ => Err(unreachable(format!("HTTP {status}: {code}: {message}"))),
                }
            }
            // The answer was over Lambda's limit (`capped`): an `error`, as for invoke:.
            other if capped::too_large(&other) => {
                Err(TargetError::Oversized(super::http::MAX_RESPONSE + 1))
            }
            other => Err(unreachable(DisplayErrorContext(&other).to_string())),
        }
    }
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

/// An HTTP client for the SDK that reads at most a limit of every answer's body.
mod capped {
    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
        http_client_fn,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_types::body::SdkBody;
    use http_body_util::BodyExt as _;

    /// The client the SDK would build for itself (hyper 1, rustls on aws-lc, the proxy from
    /// the environment), made here so that it can be wrapped.
    pub(super) fn default_https_client() -> SharedHttpClient {
        use aws_smithy_http_client::proxy::ProxyConfig;
        use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
        aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
            let mut connector = aws_smithy_http_client::ConnectorBuilder::default()
                .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
            connector.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                connector.set_sleep_impl(components.sleep_impl());
            }
            connector.set_proxy_config(Some(ProxyConfig::from_env()));
            connector.build()
        })
    }

    /// `inner`, whose answers' bodies are read here up to `limit` bytes (a declared
    /// Content-Length over it is refused unread).
    pub(super) fn client(inner: SharedHttpClient, limit: usize) -> SharedHttpClient {
        http_client_fn(move |settings, components| {
            SharedHttpConnector::new(Capped {
                inner: inner.http_connector(settings, components),
                limit,
            })
        })
    }

    /// An answer over the limit.
    #[derive(Debug, thiserror::Error)]
    #[error("the answer is larger than Lambda's 6 MB limit")]
    struct TooLarge;

    /// Whether `error` is (or was caused by) an answer over the limit.
    pub(super) fn too_large(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut source = Some(error);
        while let Some(e) = source {
            if e.downcast_ref::<TooLarge>().is_some() {
                return true;
            }
            source = e.source();
        }
        false
    }

    #[derive(Debug)]
    struct Capped {
        inner: SharedHttpConnector,
        limit: usize,
    }

    impl HttpConnector for Capped {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let (inner, limit) = (self.inner.clone(), self.limit);
            HttpConnectorFuture::new(async move {
                let mut response = inner.call(request).await?;
                let too_large = || ConnectorError::other(Box::new(TooLarge), None);
                let declared = response
                    .headers()
                    .get("content-length")
                    .and_then(|v| v.parse::<u64>().ok());
                if declared.is_some_and(|n| n > limit as u64) {
                    return Err(too_large());
                }
                let body = response.take_body();
                let collected = http_body_util::Limited::new(body, limit)
                    .collect()
                    .await
                    .map_err(|_| too_large())?;
                *response.body_mut() = SdkBody::from(collected.to_bytes());
                Ok(response)
            })
        }
    }
}
