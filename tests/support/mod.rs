//! Shared pieces of the integration tests.
#![allow(dead_code)]

pub mod python;
pub mod runtimes;
pub mod verifier;

use std::sync::OnceLock;

use authprobe::keys::KeyRing;

/// One key ring per test binary: RSA key generation is the slow part of every test.
pub fn keyring() -> KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| KeyRing::generate().expect("keys generate"))
        .clone()
}

/// The mock IdP publishing the shared key ring, with its attacker key at the jku/x5u targets.
pub async fn idp() -> authprobe::idp::Idp {
    let ring = keyring();
    authprobe::idp::Idp::start(
        ring.published().expect("keys"),
        Some(ring.attacker().expect("keys")),
        authprobe::idp::IdpConfig::default(),
    )
    .await
    .expect("the IdP starts")
}

/// A reqwest client that never goes through a proxy (tests talk to 127.0.0.1 only).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds")
}

/// Everything a run left for people to read: its stdout, its stderr and every file under
/// `dir`, each with a name to point at. A secret must be in none of them.
pub fn everything_written(
    output: &std::process::Output,
    dir: &std::path::Path,
) -> Vec<(String, String)> {
    let mut texts = vec![
        (
            "stdout".to_string(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ),
        (
            "stderr".to_string(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ),
    ];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            texts.push((path.display().to_string(), text));
        }
    }
    texts
}

/// Fails naming the first of [`everything_written`] that holds `secret`; at least `files`
/// files must have been written, so that an empty run cannot pass.
pub fn assert_nowhere(
    output: &std::process::Output,
    dir: &std::path::Path,
    secret: &str,
    files: usize,
) {
    let texts = everything_written(output, dir);
    assert!(
        texts.len() >= files + 2,
        "the run wrote its reports: {} file(s)",
        texts.len() - 2
    );
    for (name, text) in texts {
        assert!(!text.contains(secret), "{name} holds the secret");
    }
}

/// The authprobe binary as a user outside CI would start it, whatever the test runner's
/// environment: no `CI` (a CI machine sets it, and it changes what a run writes), none of the
/// snapshot settings (`cargo insta test` sets some), no AWS endpoint overrides, and none of the
/// terminal's settings (width, colour, diagnostics).
pub fn authprobe_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_authprobe"));
    for var in [
        "CI",
        "TF_BUILD",
        "INSTA_UPDATE",
        "INSTA_FORCE_PASS",
        "AUTHPROBE_UPDATE_SNAPSHOTS",
        "AUTHPROBE_FORCE_PASS",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_LAMBDA",
        "COLUMNS",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "RUST_LOG",
        "AUTHPROBE_COMPLETE",
    ] {
        command.env_remove(var);
    }
    command
}

/// The authprobe binary run in `dir` as a user would run it there: no colour, outside CI, with
/// none of the test runner's snapshot settings (`cargo insta test` sets some) or AWS endpoint
/// overrides; plus `env`.
pub fn authprobe_in(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut command = authprobe_command();
    command.args(args).current_dir(dir).env("NO_COLOR", "1");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("authprobe runs")
}

/// The one run folder a run wrote under `dir/reports`.
pub fn run_dir(dir: &std::path::Path) -> std::path::PathBuf {
    let mut runs: Vec<_> = std::fs::read_dir(dir.join("reports"))
        .expect("a reports folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.remove(0)
}

/// Processes (other than this one) whose command line or working directory mentions `marker`.
pub fn processes_mentioning(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) || pid == std::process::id().to_string() {
            continue;
        }
        // A zombie has exited: it holds nothing and runs nothing.
        let zombie = std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        });
        if zombie {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let cwd = std::fs::read_link(entry.path().join("cwd"))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if cmdline.contains(marker) || cwd.contains(marker) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

/// The plain Python runtime of tests/fixtures/runtime (a `bootstrap` speaking the Runtime API
/// itself, so it can misbehave in ways a real runtime client would not let a handler).
pub fn bootstrap() -> String {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/runtime/bootstrap.py")
        .display()
        .to_string()
}

/// A response body that never ends: the same chunk for as long as the client reads.
pub struct Endless(pub axum::body::Bytes);

impl axum::body::HttpBody for Endless {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(self.0.clone()))))
    }
}

/// The severities of the findings of case `name` in a report.json.
pub fn severities(report: &serde_json::Value, name: &str) -> Vec<String> {
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"].as_str().unwrap().to_string())
        .collect()
}
