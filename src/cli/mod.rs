//! The command line: clap definitions (their doc comments are the help text) and the
//! conversion of raw arguments into validated settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use crate::tokens::{Profile, TokenUse};

pub mod complete;
mod identity;
pub mod manual;
mod snapshots;

pub use identity::*;
pub use snapshots::{SnapshotSelection, SnapshotsCommand};

/// Prove that an API Gateway Lambda authorizer is right, stays right, and holds up under load.
///
/// authprobe mints its own keys and tokens, serves its own JWKS, sends every good and bad token
/// that matters to the authorizer under test, and judges the answers.
#[derive(Debug, Parser)]
#[command(
    name = "authprobe",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
// Parsed once per run: the size of the biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make RSA signing keys and print their public JWKS.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// List the token catalogue or mint one token.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run the mock identity provider.
    #[command(subcommand)]
    Idp(IdpCommand),
    /// Send one event to one target and print the outcome and the raw response.
    Invoke(InvokeArgs),
    /// Run a profile's cases against an authorizer and judge every answer (the main job).
    ///
    /// With no arguments: keys made for the run, the mock IdP up, the jwks profile against the
    /// built-in reference authorizer.
    Conform(ConformArgs),
    /// Run the API Gateway emulator in front of an authorizer.
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// Load-test an authorizer through the gateway emulator with goose: one attack per cache
    /// TTL, side by side (latency, throughput, errors, invocations, JWKS fetches).
    ///
    /// With no arguments: the cache-benefit scenario (TTL 0 against 300, 1,000 distinct
    /// tokens) against the built-in jwks authorizer. Load goes to 127.0.0.1 and ::1 only,
    /// unless --allow-remote.
    Load(LoadArgs),
    /// Show the built-in profiles (embedded in the binary).
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Review, accept, reject, list and prune policy snapshots (no Cargo needed).
    #[command(subcommand)]
    Snapshots(SnapshotsCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    ///
    /// It completes case names, token kinds, profiles, scenarios and targets from the line
    /// typed so far: `authprobe completions bash >
    /// ~/.local/share/bash-completion/completions/authprobe`, or `source
    /// <(AUTHPROBE_COMPLETE=bash authprobe)` in ~/.bashrc. The script calls authprobe back for
    /// each completion; `--static` prints one that does not (flags and fixed values only).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
        /// A script that completes flags and fixed values without calling authprobe.
        #[arg(long = "static")]
        fixed: bool,
    },
    /// Print a manual page, in roff: authprobe(1), or a command's (`authprobe man conform`,
    /// `authprobe man gateway serve`); `--dir DIR` writes them all.
    ///
    /// `authprobe man conform > authprobe-conform.1 && man -l authprobe-conform.1`
    Man {
        /// The command whose page to print; none: authprobe(1).
        command: Vec<String>,
        /// Write every page (authprobe.1, authprobe-conform.1, ...) into this folder instead.
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        dir: Option<PathBuf>,
    },
}

/// `authprobe profile …`
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Print a built-in profile's TOML, to copy and edit: `authprobe profile show jwks >
    /// my.toml`, then `conform --scenario my.toml`.
    Show {
        /// The profile.
        #[arg(value_enum)]
        name: Profile,
        /// With a starter authorization matrix over the profile's routes (a reader and an
        /// admin) in place of the commented example, to fill in with your own principals.
        #[arg(long)]
        matrix: bool,
    },
}

/// `authprobe gateway …`
#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Serve an API stage on 127.0.0.1 with API Gateway's authorizer rules (identity sources,
    /// result cache, 401/403/500) in front of TARGET; prints the stage's base URL and serves
    /// until Ctrl-C. `GET /_authprobe/stats` answers the counters as JSON.
    Serve(GatewayServeArgs),
}

/// Arguments of `gateway serve`.
#[derive(Debug, Args)]
pub struct GatewayServeArgs {
    /// Profile: the authorizer's settings, event shape, routes and cache TTL (default: the
    /// profile of a builtin: target, else jwks).
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
    /// A profile file of your own instead of a built-in one.
    #[arg(long, value_name = "FILE", conflicts_with = "profile")]
    pub scenario: Option<PathBuf>,
    /// Which Cognito token the authorizer requires (cognito profile): the good token and the
    /// cases that depend on it follow. Default: the profile's `token_use` (access).
    #[arg(long, value_enum)]
    pub token_use: Option<TokenUse>,
    /// Where the authorizer is.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Authorizer result cache TTL in seconds, 0 (off) to 3600 (default: the profile's, 300).
    #[arg(long, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(0..=crate::gateway::MAX_TTL))]
    pub cache_ttl: Option<u64>,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Allow --addr to be a non-loopback address (anyone who reaches it can call the
    /// authorizer); the counters then need the control token printed at start.
    #[arg(long)]
    pub expose: bool,
    /// A route of the API, repeatable: 'GET /hello', 'ANY /items/{id}', '$default' (HTTP
    /// APIs; default: the profile's [api] routes).
    #[arg(long = "route", value_name = "'METHOD /path'")]
    pub routes: Vec<crate::gateway::Route>,
    /// Forward allowed requests to this URL (+ path) instead of the built-in echo backend.
    #[arg(long, value_name = "URL")]
    pub backend: Option<String>,
    /// Stage name: the first path segment of every URL.
    #[arg(long, default_value = "dev")]
    pub stage: String,
    /// Identity source, repeatable: method.request.header.NAME, method.request.querystring.NAME,
    /// stageVariables.NAME, context.NAME (or $request.header.NAME …). Default: the
    /// Authorization header.
    #[arg(long = "identity-source", value_name = "SOURCE")]
    pub identity_sources: Vec<crate::gateway::IdentitySource>,
    /// A stage variable, repeatable: NAME=VALUE (identity sources may read it as
    /// stageVariables.NAME).
    #[arg(long = "stage-variable", value_name = "NAME=VALUE", value_parser = parse_stage_variable)]
    pub stage_variables: Vec<(String, String)>,
    /// TOKEN authorizers: a regular expression the whole token must match, or 401 without
    /// invoking.
    #[arg(long, value_name = "REGEX")]
    pub validation_expression: Option<String>,
    /// How long a client may take to send a request's line and headers before the
    /// connection is closed (slow clients hold connections open).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_header_read_timeout)]
    pub header_read_timeout: std::time::Duration,
    /// Connections served at once; more wait until one closes (lowered to half the
    /// open-file limit when that is smaller).
    #[arg(long, value_name = "N", default_value_t = crate::gateway::front::DEFAULT_MAX_CONNECTIONS as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Largest request body in bytes, at most API Gateway's 10 MB payload quota; larger is
    /// answered 413 as it arrives.
    #[arg(long, value_name = "BYTES", default_value_t = crate::gateway::MAX_PAYLOAD as u32,
          value_parser = clap::value_parser!(u32).range(1..=crate::gateway::MAX_PAYLOAD as i64))]
    pub max_body: u32,
    /// Do not print each request and the handler's output on stderr (under heavy load the
    /// lines cost more than the requests).
    #[arg(short, long)]
    pub quiet: bool,
}

/// Arguments of `conform`.
#[derive(Debug, Args)]
pub struct ConformArgs {
    /// Built-in profile to run (scenarios/PROFILE.toml, embedded in the binary). Default: the
    /// profile of a builtin: target, else jwks.
    #[arg(long, value_enum, conflicts_with = "scenario")]
    pub profile: Option<Profile>,
    /// A profile file of your own (copy one of scenarios/*.toml and edit it).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Which Cognito token the authorizer requires (cognito profile): the good token and the
    /// cases that depend on it follow. Default: the profile's `token_use` (access).
    #[arg(long, value_enum)]
    pub token_use: Option<TokenUse>,
    /// Where the authorizer is.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Authorizer result cache TTL the API uses, overriding the profile's: 0 (off) to 3600,
    /// API Gateway's range.
    #[arg(long, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(0..=crate::gateway::MAX_TTL))]
    pub cache_ttl: Option<u64>,
    /// Folder for run reports: each run writes report.json, report.md and junit.xml into
    /// REPORT_DIR/<run>/.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Also write the JUnit XML here; `-` writes it to stdout (the run's own output then goes
    /// to stderr).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write the JSON report here; `-` writes it to stdout (the run's own output then
    /// goes to stderr).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Run only the cases whose name matches, repeatable: `*` any characters, `?` one
    /// (`--case 'kid-*'`). A pattern that matches no case is an error.
    #[arg(long = "case", value_name = "GLOB",
          add = clap_complete::ArgValueCompleter::new(complete::cases))]
    pub cases: Vec<crate::conform::profile::CaseGlob>,
    /// Print the profile's cases (name, expectation, route, what it sends) and exit without
    /// running.
    #[arg(long)]
    pub list: bool,
    /// Print only the failures and the summary.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also print each case's raw response and the handler's output (-v); -vv adds
    /// authprobe's own diagnostics on stderr (IdP requests, gateway decisions, Runtime API
    /// calls), as RUST_LOG=authprobe=debug does.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Policy snapshot folder (default: scenarios/snapshots/NAME/ with --name or a profile's
    /// `name`, else scenarios/snapshots/PROFILE/HANDLER[-in-WORKDIR]/, without machine paths).
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// Name of the run's snapshots: they are kept in scenarios/snapshots/NAME/ (overrides the
    /// profile's `name`).
    #[arg(long, value_name = "NAME", conflicts_with = "snapshots",
          value_parser = parse_snapshot_name)]
    pub name: Option<String>,
    /// Run as in CI (also when the CI environment variable is set): a policy snapshot that
    /// was never accepted fails the run instead of being written.
    #[arg(long)]
    pub ci: bool,
    /// Accept changed policy snapshots.
    #[arg(long, conflicts_with = "no_snapshots")]
    pub update_snapshots: bool,
    /// Do not compare or write policy snapshots.
    #[arg(long)]
    pub no_snapshots: bool,
    /// Contract warnings fail the run.
    #[arg(long)]
    pub strict: bool,
    /// Single-token cases sent at once; they are reported in case order, and stateful cases
    /// always run alone. Default: the number of cores for builtin: targets and lambda:
    /// (at most --concurrency), 1 for invoke: and url:.
    #[arg(short = 'j', long, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
    /// Do not calibrate: when the good token as the profile sends it is refused, do not try
    /// other forms of it (the run then judges every case on the profile's form).
    #[arg(long)]
    pub no_calibrate: bool,
    /// How long the key-rotation case waits for the authorizer to accept a newly published
    /// key (1s to 10m). Default: the profile's `rotation_window_seconds`, else 12s.
    #[arg(long, value_parser = parse_rotation_window)]
    pub rotation_window: Option<Duration>,
    /// Colour: auto (a terminal without NO_COLOR), always or never.
    #[arg(long, value_enum, default_value_t = crate::report::ColorChoice::Auto)]
    pub color: crate::report::ColorChoice,
    /// Good tokens from a real IdP (a deployed authorizer): the key-less catalogue.
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// A header every request carries, repeatable: 'NAME: VALUE' (e.g. a deployed stage's
    /// 'x-api-key: …'; prefer --header-env for secrets).
    #[arg(long = "header", value_name = "'NAME: VALUE'", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// A header whose value comes from an environment variable, repeatable: NAME=VAR. The value
    /// is never printed.
    #[arg(long = "header-env", value_name = "NAME=VAR", value_parser = parse_env)]
    pub header_env: Vec<(String, String)>,
    /// The header that carries the token, for a url: target whose authorizer reads another
    /// one than Authorization (its identity source).
    #[arg(long, value_name = "NAME")]
    pub token_header: Option<String>,
    /// The token of an authorization-matrix principal, from a file, repeatable: NAME=FILE. A
    /// key-less run (real tokens from a real IdP) needs one per principal; a minted run uses it
    /// instead of minting the principal's claims.
    #[arg(long = "principal-token-file", value_name = "NAME=FILE", value_parser = parse_env)]
    pub principal_token_files: Vec<(String, String)>,
    /// The token of an authorization-matrix principal, printed by a shell command, repeatable:
    /// NAME=CMD (as --token-cmd).
    #[arg(long = "principal-token-cmd", value_name = "NAME=CMD", value_parser = parse_env)]
    pub principal_token_cmds: Vec<(String, String)>,
}

/// Parses `--header 'NAME: VALUE'`.
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, value))
            if !name.trim().is_empty()
                && name
                    .trim()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) =>
        {
            Ok((name.trim().to_ascii_lowercase(), value.trim().to_string()))
        }
        _ => Err(format!(
            "`{s}` is not a header: write e.g. --header 'x-api-key: VALUE'"
        )),
    }
}

/// Where the real good token of a key-less run comes from (a deployed authorizer trusts the
/// team's IdP, not authprobe's keys). Any of the three token options makes the run key-less,
/// as does `identity = "external"` in the profile.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Real IdP (key-less run)")]
pub struct IdentityArgs {
    /// Shell command that prints a real good token on stdout, e.g. `aws cognito-idp
    /// initiate-auth … --query AuthenticationResult.AccessToken --output text`. Run once per
    /// run (again every --token-ttl); a non-zero exit or no output stops the run (exit 3).
    #[arg(long, value_name = "CMD", conflicts_with_all = ["token_file", "oauth_token_url"])]
    pub token_cmd: Option<String>,
    /// File that holds a real good token.
    #[arg(long, value_name = "FILE", conflicts_with = "oauth_token_url")]
    pub token_file: Option<PathBuf>,
    /// OAuth 2.0 token endpoint to get the good token from by the client-credentials grant
    /// (Cognito app client, Auth0/Okta machine-to-machine app); needs --client-id and
    /// --client-secret-env.
    #[arg(long, value_name = "URL", requires_all = ["client_id", "client_secret_env"])]
    pub oauth_token_url: Option<String>,
    /// App client id for --oauth-token-url.
    #[arg(long, value_name = "ID", requires = "oauth_token_url")]
    pub client_id: Option<String>,
    /// Environment variable that holds the app client's secret (the value is never printed).
    #[arg(long, value_name = "VAR", requires = "oauth_token_url")]
    pub client_secret_env: Option<String>,
    /// Scopes to ask the token endpoint for (space separated; default: the client's).
    #[arg(long, value_name = "SCOPES", requires = "oauth_token_url")]
    pub scope: Option<String>,
    /// The API to ask the token endpoint for a token for (the `audience` parameter Auth0
    /// requires; Cognito and Okta do not use it).
    #[arg(long, value_name = "AUDIENCE", requires = "oauth_token_url")]
    pub oauth_audience: Option<String>,
    /// How the client id and secret are sent: `basic` (an Authorization header; Cognito, Okta)
    /// or `post` (form fields; Auth0's default for machine-to-machine apps).
    #[arg(
        long,
        value_enum,
        value_name = "HOW",
        default_value_t,
        requires = "oauth_token_url"
    )]
    pub client_auth: crate::tokens::source::ClientAuth,
    /// Get a new good token when the last one is this old, e.g. 50m (default: one per run).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub token_ttl: Option<Duration>,
    /// The issuer's JWKS (default: the good token's iss + /.well-known/jwks.json).
    #[arg(long, value_name = "URL")]
    pub jwks_url: Option<String>,
    /// A correctly signed, expired token of the issuer: the `expired` case then runs.
    #[arg(long, value_name = "FILE")]
    pub expired_token_file: Option<PathBuf>,
}

impl IdentityArgs {
    /// The key-less run these options ask for: `None` without a token option (an error when
    /// `required`, i.e. the profile says `identity = "external"`).
    pub fn external(
        &self,
        required: bool,
    ) -> Result<Option<crate::harness::ExternalIdentity>, crate::Error> {
        use crate::tokens::source::{ClientCredentials, Secret, TokenSource};
        let source = match (&self.token_cmd, &self.token_file, &self.oauth_token_url) {
            (Some(cmd), _, _) => TokenSource::Command(cmd.clone()),
            (_, Some(file), _) => TokenSource::File(file.clone()),
            (_, _, Some(url)) => TokenSource::ClientCredentials(ClientCredentials {
                token_url: url.clone(),
                client_id: self.client_id.clone().unwrap_or_default(),
                secret: Secret::new(secret_from_env(
                    "--client-secret-env",
                    self.client_secret_env.as_deref().unwrap_or_default(),
                )?),
                scope: self.scope.clone(),
                audience: self.oauth_audience.clone(),
                auth: self.client_auth,
            }),
            (None, None, None) => {
                let stray = [
                    ("--token-ttl", self.token_ttl.is_some()),
                    ("--jwks-url", self.jwks_url.is_some()),
                    ("--expired-token-file", self.expired_token_file.is_some()),
                ]
                .into_iter()
                .find(|(_, given)| *given);
                if !required && stray.is_none() {
                    return Ok(None);
                }
                return Err(crate::Error::Usage {
                    message: match stray {
                        Some((flag, _)) => format!("{flag} is for a key-less run, and no good token was given"),
                        None => "the profile says identity = \"external\", and no good token was given".into(),
                    },
                    hint: "give the real good token with --token-cmd, --token-file or --oauth-token-url".into(),
                });
            }
        };
        Ok(Some(crate::harness::ExternalIdentity {
            source,
            refresh: self.token_ttl,
            jwks_url: self.jwks_url.clone(),
            expired_token: self.expired_token_file.clone(),
        }))
    }
}

impl ConformArgs {
    /// True when the run is in CI: `--ci`, or the `CI` environment variable (see
    /// [`crate::conform::snapshot::ci_from_env`]).
    pub fn in_ci(&self) -> bool {
        self.ci || crate::conform::snapshot::ci_from_env()
    }
}

/// Arguments of `load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// A built-in scenario (cache-benefit, mixed-traffic) or a scenario file (TOML, see
    /// scenarios/load/).
    #[arg(long, value_name = "NAME|FILE", default_value = "cache-benefit",
          add = clap_complete::ArgValueCompleter::new(complete::load_scenarios))]
    pub scenario: String,
    /// Which Cognito token the authorizer requires (cognito profile): the good token and the
    /// cases that depend on it follow. Default: the profile's `token_use` (access).
    #[arg(long, value_enum)]
    pub token_use: Option<TokenUse>,
    /// Print the scenario's TOML (to copy and edit) and exit.
    #[arg(long)]
    pub show: bool,
    /// Where the authorizer is.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Cache TTLs to compare, one attack each, e.g. 0,300 (overrides the scenario's).
    #[arg(long, value_name = "SECONDS,...", value_delimiter = ',',
          value_parser = clap::value_parser!(u64).range(0..=crate::gateway::MAX_TTL))]
    pub cache_ttl: Vec<u64>,
    /// Concurrent users (overrides the scenario's).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub users: Option<u64>,
    /// How long each attack runs after every user started, e.g. 30s, 2m, 1m30s (overrides the
    /// scenario's bound).
    #[arg(long, value_name = "DURATION", value_parser = parse_run_time,
          conflicts_with = "iterations")]
    pub run_time: Option<Duration>,
    /// Requests per user per attack (overrides the scenario's bound).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Option<u64>,
    /// Most requests per second across users.
    #[arg(long, value_name = "RPS", value_parser = clap::value_parser!(u64).range(1..))]
    pub throttle: Option<u64>,
    /// Distinct good tokens in the pool (overrides the scenario's).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=crate::load::scenario::MAX_POOL as u64))]
    pub pool: Option<u64>,
    /// A threshold, repeatable, added to the scenario's: 'p99_ms < 50',
    /// 'ttl 300: invocations_per_request < 0.05'.
    #[arg(long = "threshold", value_name = "RULE")]
    pub thresholds: Vec<crate::load::scenario::Threshold>,
    /// builtin: targets only: time added to every invocation, standing in for Lambda's invoke
    /// overhead, e.g. 20ms.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub authorizer_latency: Option<Duration>,
    /// Allow load against a target that is not on 127.0.0.1 or ::1 (a deployed stage). Needs
    /// --max-requests and --run-time.
    #[arg(long)]
    pub allow_remote: bool,
    /// Stop each attack after this many requests.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: Option<u64>,
    /// Folder for run reports: each run writes load.json, load.md, load.html, junit.xml and
    /// goose's own HTML report per TTL into REPORT_DIR/<run>/.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Also write the JUnit XML (one test case per threshold and attack) here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Parses a load run time: whole seconds, minutes, hours (`30s`, `2m`, `1m30s`).
pub fn parse_run_time(s: &str) -> Result<Duration, String> {
    crate::load::scenario::parse_run_time(s)
}

/// Parses `--name`.
pub fn parse_snapshot_name(s: &str) -> Result<String, String> {
    crate::conform::snapshot::check_name(s).map(|()| s.to_string())
}

/// Where the authorizer under test is and how to run it.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// The authorizer under test: builtin:static|hs256|jwks|cognito, lambda:COMMAND…,
    /// invoke:URL, url:URL or aws-lambda:FUNCTION (name, name:alias or ARN; credentials from
    /// the AWS SDK's chain). Default: builtin:PROFILE.
    #[arg(long, value_parser = parse_target,
          add = clap_complete::ArgValueCompleter::new(complete::targets))]
    pub target: Option<crate::target::TargetSpec>,
    /// AWS region of an aws-lambda: target (default: the SDK's, AWS_REGION or the profile's).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Shared-config profile of an aws-lambda: target (default: the SDK's, AWS_PROFILE).
    #[arg(long, value_name = "NAME")]
    pub profile_name: Option<String>,
    /// Environment of a lambda: target, repeatable: K=V, where V may hold {jwks_url},
    /// {issuer}, {audience}, {client_id}, {secret}, {region}, {pool_id} or {token_use}.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Working directory (and LAMBDA_TASK_ROOT) of a lambda: target.
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Execution environments of a lambda: target.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Invocation timeout, e.g. 3s (1ms to 15m).
    #[arg(long, default_value = "3s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Sign with the keys of this folder instead of keys made for the run.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Where the run's mock IdP listens (loopback unless --idp-expose; port 0 picks a free
    /// one). A fixed port lets an invoke: or url: authorizer be configured ahead of the run.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:0")]
    pub idp_addr: SocketAddr,
    /// Allow a non-loopback --idp-addr (e.g. 0.0.0.0:8787 for a container): anyone who
    /// reaches it can fetch the public JWKS.
    #[arg(long)]
    pub idp_expose: bool,
    /// The IdP's base URL as the authorizer sees it, e.g. http://host.docker.internal:8787:
    /// used for {jwks_url} and {issuer} and in the tokens' iss (default: http://IDP_ADDR).
    #[arg(long, value_name = "URL", value_parser = parse_idp_url)]
    pub idp_url: Option<String>,
}

impl TargetArgs {
    /// The IdP placement these arguments ask for; a non-loopback --idp-addr without
    /// --idp-expose is bad usage.
    pub fn idp(&self) -> Result<crate::harness::IdpPlacement, crate::Error> {
        crate::net::check_listen(self.idp_addr, self.idp_expose).map_err(|_| crate::Error::Usage {
            message: format!("--idp-addr {} is not a loopback address", self.idp_addr),
            hint: "use 127.0.0.1:PORT, or pass --idp-expose on purpose to let a container or another host reach the IdP (anyone who can reach it can fetch the public JWKS)".into(),
        })?;
        Ok(crate::harness::IdpPlacement {
            addr: self.idp_addr,
            expose: self.idp_expose,
            url: self.idp_url.clone(),
        })
    }
}

/// Parses `--idp-url`: an http(s) URL with a host and no query or fragment.
pub fn parse_idp_url(s: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(s).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(format!(
            "`{s}`: write the base URL the authorizer reaches the IdP at, e.g. http://host.docker.internal:8787"
        ));
    }
    Ok(s.trim_end_matches('/').to_string())
}

/// Arguments of `invoke`.
#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// Profile of the authorizer (default: the profile of a builtin: target, else jwks).
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
    /// Send this Authorization header value as is.
    #[arg(long, conflicts_with = "kind")]
    pub token: Option<String>,
    /// Mint a token of this kind (default: the profile's good token).
    #[arg(long, add = clap_complete::ArgValueCompleter::new(complete::kinds))]
    pub kind: Option<String>,
    /// Event shape.
    #[arg(long, value_enum, default_value_t = crate::event::EventKind::Token)]
    pub event: crate::event::EventKind,
    /// Method ARN of the request (default: GET /hello on a made-up API).
    #[arg(long)]
    pub method_arn: Option<String>,
    /// HTTP API payload 2.0 with simple responses (`isAuthorized`).
    #[arg(long)]
    pub simple_responses: bool,
    /// Where the authorizer is.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Claims and secrets of the token.
    #[command(flatten)]
    pub claims: ClaimArgs,
    /// Print the answer as one JSON object (target, event, method_arn, kind, expected,
    /// outcome, why, elapsed_ms, cold, response, error).
    #[arg(long)]
    pub json: bool,
}

/// Parses a TARGET.
pub fn parse_target(s: &str) -> Result<crate::target::TargetSpec, String> {
    s.parse()
}

/// Parses `NAME=VALUE` for `--stage-variable`.
pub fn parse_stage_variable(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!(
            "`{s}` is not NAME=VALUE: write e.g. --stage-variable tenant=acme"
        )),
    }
}

/// Parses `K=V` for `--env`.
pub fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!(
            "`{s}` is not K=V: write e.g. --env JWKS_URL={{jwks_url}}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("5 minutes ago").is_err());
    }

    #[test]
    fn claim_values_are_json_when_they_parse() {
        assert_eq!(parse_claim("n=3").unwrap().1, Value::from(3));
        assert_eq!(parse_claim("a=[1,2]").unwrap().1, serde_json::json!([1, 2]));
        assert_eq!(parse_claim("role=admin").unwrap().1, Value::from("admin"));
        assert!(parse_claim("novalue").is_err());
        assert!(parse_claim("=x").is_err());
    }
}
