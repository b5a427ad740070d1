//! Where a real good token comes from when the authorizer trusts a real IdP: a command
//! (`--token-cmd`), a file (`--token-file`), or an OAuth 2.0 client-credentials request
//! (`--oauth-token-url`, RFC 6749 §4.4) as Cognito app clients and Auth0/Okta
//! machine-to-machine applications answer it.
//!
//! The client secret is a [`Secret`]: it prints as `<redacted>`, and no error here carries it.

use std::path::PathBuf;
use std::time::Duration;

/// How long a `--token-cmd` may take before the run gives up on it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Most of a token endpoint's error body an error message quotes.
const BODY_QUOTE: usize = 300;

/// The most a good token's source may give: a command's stdout, a token file, a token
/// endpoint's answer. A JWT of API Gateway's whole 10 KiB header quota fits many times over.
pub const MAX_TOKEN_SOURCE: usize = 1 << 20;

/// A credential that never prints: its `Debug` is `<redacted>` and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The value, to send where it belongs and nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the good token comes from.
#[derive(Clone, Debug)]
pub enum TokenSource {
    /// A shell command whose standard output, trimmed, is the token.
    Command(String),
    /// A file whose content, trimmed, is the token.
    File(PathBuf),
    /// An OAuth 2.0 client-credentials request.
    ClientCredentials(ClientCredentials),
}

/// An OAuth 2.0 client-credentials grant (RFC 6749 §4.4): a Cognito app client, an Auth0 or
/// Okta machine-to-machine app.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// The token endpoint.
    pub token_url: String,
    /// The app client's id.
    pub client_id: String,
    /// The app client's secret.
    pub secret: Secret,
    /// Scopes to ask for (space separated); `None` asks for the client's default.
    pub scope: Option<String>,
    /// The API to ask a token for (`audience`: Auth0 requires it; Cognito and Okta take the
    /// audience from the client or the authorization server instead).
    pub audience: Option<String>,
    /// How the client proves who it is.
    pub auth: ClientAuth,
}

/// How a client sends its id and secret to the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientAuth {
    /// `Authorization: Basic` (`client_secret_basic`): every server must accept it; Cognito
    /// and Okta's default.
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`): Auth0's
    /// default for machine-to-machine apps.
    Post,
}

/// Why no good token could be had.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The command could not be started.
    #[error("--token-cmd could not start")]
    Spawn(#[source] std::io::Error),
    /// The command failed; what it printed on stderr follows.
    #[error("--token-cmd {status}{}", stderr_block(.stderr))]
    Failed {
        /// How it ended.
        status: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// The command printed nothing on stdout.
    #[error("--token-cmd printed no token on stdout{}", stderr_block(.stderr))]
    Empty {
        /// The end of its standard error.
        stderr: String,
    },
    /// The command took too long.
    #[error("--token-cmd did not finish within {} s", COMMAND_TIMEOUT.as_secs())]
    Timeout,
    /// The command printed more than a token could be.
    #[error("--token-cmd printed {source} on stdout: that is no token")]
    TooMuch {
        /// The limit it went past.
        #[source]
        source: crate::bounded::ReadError,
    },
    /// The file could not be read.
    #[error("cannot read the token file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: crate::bounded::ReadError,
    },
    /// The file is empty.
    #[error("the token file {path} is empty")]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// The token endpoint could not be reached.
    #[error("cannot reach the token endpoint {url}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The token endpoint answered with a redirect, which is not followed.
    #[error("the token endpoint {url} answered HTTP {status}, a redirect to {location}")]
    Redirected {
        /// The endpoint.
        url: String,
        /// The status.
        status: u16,
        /// Where it pointed (its user information taken out).
        location: String,
    },
    /// The token endpoint's answer was larger than a token answer can be.
    #[error("the token endpoint {url} answered with a body of {source}")]
    Oversized {
        /// The endpoint.
        url: String,
        /// The limit.
        #[source]
        source: crate::bounded::ReadError,
    },
    /// The token endpoint refused the request.
    #[error("the token endpoint {url} answered HTTP {status}: {body}")]
    Refused {
        /// The endpoint.
        url: String,
        /// The status.
        status: u16,
        /// The start of its body, with the secret taken out should it echo it.
        body: String,
    },
    /// The token endpoint answered without an `access_token`.
    #[error("the token endpoint {url} answered without an access_token")]
    NoAccessToken {
        /// The endpoint.
        url: String,
    },
}

fn stderr_block(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!("; its stderr:\n{}", stderr.trim_end())
    }
}

impl SourceError {
    /// How to fix it.
    pub fn hint(&self) -> &'static str {
        match self {
            SourceError::Spawn(_)
            | SourceError::Failed { .. }
            | SourceError::Empty { .. }
            | SourceError::Timeout
            | SourceError::TooMuch { .. } => {
                "run the command by hand: it must print the token alone on stdout and exit 0"
            }
            SourceError::Read { .. } | SourceError::EmptyFile { .. } => {
                "write the token alone into a regular file"
            }
            SourceError::Unreachable { .. } | SourceError::Oversized { .. } => {
                "check --oauth-token-url"
            }
            SourceError::Redirected { .. } => {
                "pass the final token endpoint URL with --oauth-token-url: a request that carries the client secret is never sent on to another address"
            }
            SourceError::Refused { .. } | SourceError::NoAccessToken { .. } => {
                "check --client-id, the secret in --client-secret-env and --scope against the app client"
            }
        }
    }
}

impl TokenSource {
    /// Gets a token: runs the command, reads the file, or asks the token endpoint.
    pub async fn fetch(&self) -> Result<String, SourceError> {
        match self {
            TokenSource::Command(command) => run_command(command).await,
            TokenSource::File(path) => {
                let text = crate::bounded::text_file_async(path, MAX_TOKEN_SOURCE as u64)
                    .await
                    .map_err(|source| SourceError::Read {
                        path: path.clone(),
                        source,
                    })?;
                let token = text.trim();
                if token.is_empty() {
                    return Err(SourceError::EmptyFile { path: path.clone() });
                }
                Ok(token.to_string())
            }
            TokenSource::ClientCredentials(grant) => client_credentials(grant).await,
        }
    }
}

/// Most of a command's stderr kept: its end, the part that says what went wrong.
const STDERR_TAIL: usize = 2000;

/// Runs the command in a process group of its own, marked ([`crate::children`]): on a
/// timeout, a signal that cancels the run, or any other way out, it ends with everything it
/// started. Its stdout is read up to [`MAX_TOKEN_SOURCE`], its stderr's end is kept.
async fn run_command(command: &str) -> Result<String, SourceError> {
    use std::process::Stdio;
    let marker = crate::children::Marker::new();
    let (var, value) = marker.env();
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env(var, value)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(SourceError::Spawn)?;
    let _reaper = crate::children::Reaper::new(child.id(), marker);
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let run = async {
        let stdout = async {
            match stdout {
                Some(s) => crate::bounded::stream(s, MAX_TOKEN_SOURCE).await,
                None => Ok(Vec::new()),
            }
        };
        let stderr = async {
            match stderr {
                Some(s) => crate::bounded::tail(s, STDERR_TAIL).await,
                None => Vec::new(),
            }
        };
        let (stdout, stderr) = tokio::join!(stdout, stderr);
        // Past the limit, the command is not waited for: the reaper ends it.
        let stdout = stdout.map_err(|source| SourceError::TooMuch { source })?;
        let status = child.wait().await.map_err(SourceError::Spawn)?;
        Ok::<_, SourceError>((status, stdout, stderr))
    };
    let (status, stdout, stderr) = tokio::time::timeout(COMMAND_TIMEOUT, run)
        .await
        .map_err(|_| SourceError::Timeout)??;
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    if !status.success() {
        return Err(SourceError::Failed {
            status: match status.code() {
                Some(code) => format!("exited with status {code}"),
                None => "was killed by a signal".into(),
            },
            stderr,
        });
    }
    let token = String::from_utf8_lossy(&stdout).trim().to_string();
    if token.is_empty() {
        return Err(SourceError::Empty { stderr });
    }
    Ok(token)
}

async fn client_credentials(grant: &ClientCredentials) -> Result<String, SourceError> {
    let secret = &grant.secret;
    // Errors name the endpoint without its user information.
    let shown = crate::net::redact_userinfo(&grant.token_url);
    let url = shown.as_str();
    // No redirect is followed: on 307/308 reqwest would send the form, client_secret and
    // all, to wherever the endpoint points, another host included. A token endpoint answers
    // where it is configured.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|source| SourceError::Unreachable {
            url: url.to_string(),
            source,
        })?;
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = &grant.scope {
        form.push(("scope", scope));
    }
    if let Some(audience) = &grant.audience {
        form.push(("audience", audience));
    }
    let request = client.post(&grant.token_url);
    let request = match grant.auth {
        ClientAuth::Basic => request.basic_auth(&grant.client_id, Some(secret.expose())),
        ClientAuth::Post => {
            form.push(("client_id", &grant.client_id));
            form.push(("client_secret", secret.expose()));
            request
        }
    };
    let answer = request
        .form(&form)
        .send()
        .await
        .map_err(|source| SourceError::Unreachable {
            url: url.to_string(),
            source: source.without_url(),
        })?;
    let status = answer.status();
    if status.is_redirection() {
        let location = answer
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned())
            .unwrap_or_else(|| "nowhere".into());
        return Err(SourceError::Redirected {
            url: url.to_string(),
            status: status.as_u16(),
            location: crate::bounded::clip(&crate::net::redact_userinfo(&location), 200)
                .into_owned(),
        });
    }
    let mut answer = answer;
    let body = crate::bounded::response(&mut answer, MAX_TOKEN_SOURCE)
        .await
        .map_err(|source| match source {
            crate::bounded::ReadError::Http(e) => SourceError::Unreachable {
                url: url.to_string(),
                source: e.without_url(),
            },
            source => SourceError::Oversized {
                url: url.to_string(),
                source,
            },
        })?;
    if !status.is_success() {
        // Redacted whole, then cut: a cut first could leave a prefix of the secret behind.
        let text = redact(&String::from_utf8_lossy(&body), grant);
        let quoted: String = text.chars().take(BODY_QUOTE).collect();
        return Err(SourceError::Refused {
            url: url.to_string(),
            status: status.as_u16(),
            body: quoted,
        });
    }
    serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("access_token")?.as_str().map(str::to_string))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| SourceError::NoAccessToken {
            url: url.to_string(),
        })
}

/// `text` without the client's secret in any form the request carried it in: as is, form
/// encoded (`client_secret=…`), or inside the Basic credentials (`id:secret` in base64), so an
/// endpoint that echoes the request in its error cannot put it on screen.
fn redact(text: &str, grant: &ClientCredentials) -> String {
    use base64::Engine as _;
    let secret = grant.secret.expose();
    if secret.is_empty() {
        return text.to_string();
    }
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", grant.client_id));
    let mut out = text.to_string();
    for form in [secret.to_string(), form_encoded(secret), basic] {
        out = out.replace(&form, "<redacted>");
    }
    out
}

/// `s` as application/x-www-form-urlencoded writes it (the WHATWG URL standard's byte
/// serializer: space as `+`, everything but alphanumerics and `*-._` as `%XX`).
fn form_encoded(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_that_echoes_the_request_shows_no_form_of_the_secret() {
        let grant = ClientCredentials {
            token_url: "https://idp.test/oauth2/token".into(),
            client_id: "app".into(),
            secret: Secret::new("s3cr3t/with +&=".into()),
            scope: None,
            audience: None,
            auth: ClientAuth::Post,
        };
        let echoed = "got client_secret=s3cr3t%2Fwith+%2B%26%3D and Basic YXBwOnMzY3IzdC93aXRoICsmPQ== and s3cr3t/with +&=";
        let shown = redact(echoed, &grant);
        assert_eq!(
            shown,
            "got client_secret=<redacted> and Basic <redacted> and <redacted>"
        );
    }

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?}"), "<redacted>");
        let source = TokenSource::ClientCredentials(ClientCredentials {
            token_url: "https://idp.test/oauth2/token".into(),
            client_id: "c".into(),
            secret: s,
            scope: None,
            audience: None,
            auth: ClientAuth::Post,
        });
        assert!(!format!("{source:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn a_token_command_prints_the_token_and_a_failing_one_shows_its_stderr() {
        let ok = TokenSource::Command("printf '  abc.def.ghi\\n'".into());
        assert_eq!(ok.fetch().await.unwrap(), "abc.def.ghi");
        let failed = TokenSource::Command("echo 'no session' >&2; exit 4".into());
        let err = failed.fetch().await.unwrap_err().to_string();
        assert!(
            err.contains("status 4") && err.contains("no session"),
            "{err}"
        );
        let empty = TokenSource::Command("true".into());
        assert!(matches!(
            empty.fetch().await.unwrap_err(),
            SourceError::Empty { .. }
        ));
    }
}
