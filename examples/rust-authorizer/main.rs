//! A Rust Lambda authorizer on `lambda_runtime`, wrapping authprobe's reference authorizer.
//!
//! Configured by the environment (see `AuthorizerConfig::from_env`): for the `jwks` profile
//! set `JWKS_URL`, `ISSUER` and `AUDIENCE`. Run it under authprobe:
//!
//! ```sh
//! cargo build --release --example rust-authorizer
//! authprobe conform --target 'lambda:target/release/examples/rust-authorizer' \
//!     --env JWKS_URL={jwks_url} --env ISSUER={issuer} --env AUDIENCE={audience}
//! ```
//!
//! Deploy it as a custom runtime: build for Linux (`cargo lambda build --release --example
//! rust-authorizer`, or `cargo build --release --example rust-authorizer --target
//! x86_64-unknown-linux-musl`), copy the binary to a file named `bootstrap`, zip it and create
//! the function with runtime `provided.al2023`.

use authprobe::authorizer::{Authorizer, AuthorizerConfig, AuthorizerError};
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Read once per execution environment, at cold start; a bad setting fails the init.
    let config = AuthorizerConfig::from_env(|k| std::env::var(k).ok())?;
    let authorizer: &'static Authorizer = Box::leak(Box::new(Authorizer::new(config)));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // A rejection surfaces as the error message `Unauthorized`: API Gateway answers 401.
        authorizer
            .handle(&event.payload)
            .await
            .map_err(|e| Diagnostic {
                error_type: match e {
                    AuthorizerError::Unauthorized(_) => "Unauthorized".into(),
                    AuthorizerError::BadEvent(_) => "BadEvent".into(),
                },
                error_message: e.to_string(),
            })
    }))
    .await
}
