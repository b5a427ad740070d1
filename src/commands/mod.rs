//! What each subcommand does, once its arguments are parsed.

use std::io::Write;
use std::sync::Arc;

use crate::cli::{
    ClaimArgs, Cli, Command, ConformArgs, GatewayCommand, GatewayServeArgs, IdpCommand, InvokeArgs,
    KeysCommand, KeysGenerate, LoadArgs, ProfileCommand, TargetArgs, TokenCommand, TokenMint,
};
use crate::event::{self, Api, ClientRequest};
use crate::harness::{Harness, HarnessOptions};
use crate::idp::{Idp, IdpConfig};
use crate::keys::{self, Existing, KeyDir, KeyRing, SigningKey};
use crate::target::{Call, TargetSpec};
use crate::tokens::Expect;
use crate::tokens::{Kind, MintSettings, Minter, Profile, TokenUse};
use crate::{EXIT_OK, Error};

mod conform;
mod gateway;
mod identity;
mod invoke;
mod load;
mod snapshots;

use conform::conform;
use gateway::gateway_serve;
use identity::{idp_serve, keys_generate, token_list, token_mint};
use invoke::invoke;
use load::load;
use snapshots::snapshots;

pub(crate) async fn dispatch(cli: Cli, out: &mut (dyn Write + Send)) -> Result<u8, Error> {
    match cli.command {
        Command::Keys(KeysCommand::Generate(args)) => keys_generate(args, out),
        Command::Keys(KeysCommand::Jwks { dir }) => {
            let keys = KeyDir::new(dir).load()?;
            let jwks = keys::JwkSet::of(&keys);
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&jwks).expect("JWKS serializes")
            )?;
            Ok(EXIT_OK)
        }
        Command::Token(TokenCommand::List {
            profile,
            token_use,
            json,
            keyless,
        }) => token_list(profile, token_use, json, keyless, out),
        Command::Token(TokenCommand::Mint(args)) => token_mint(args, out),
        Command::Idp(IdpCommand::Serve {
            dir,
            addr,
            expose,
            pool_id,
            oauth,
        }) => idp_serve(dir, addr, expose, pool_id, oauth, out).await,
        Command::Invoke(args) => invoke(args, out).await,
        Command::Conform(args) => conform(args, out).await,
        Command::Gateway(GatewayCommand::Serve(args)) => gateway_serve(args, out).await,
        Command::Load(args) => load(args, out).await,
        Command::Profile(ProfileCommand::Show { name, matrix }) => {
            let (_, text) = crate::conform::profile::BUILTIN
                .iter()
                .find(|(n, _)| *n == name.name())
                .expect("every profile is built in");
            if !matrix {
                out.write_all(text.as_bytes())?;
                return Ok(EXIT_OK);
            }
            let with_matrix =
                crate::conform::profile::matrix::starter(name, text).ok_or_else(|| {
                    Error::Usage {
                        message: format!(
                            "the {name} profile's tokens carry no claims to tell principals apart"
                        ),
                        hint: "use --matrix with the jwks, cognito or hs256 profile".into(),
                    }
                })?;
            out.write_all(with_matrix.as_bytes())?;
            Ok(EXIT_OK)
        }
        Command::Completions { shell, fixed: true } => {
            let mut command = crate::cli::manual::command();
            clap_complete::generate(shell, &mut command, "authprobe", out);
            Ok(EXIT_OK)
        }
        Command::Completions {
            shell,
            fixed: false,
        } => {
            crate::cli::complete::registration(shell, out)?;
            Ok(EXIT_OK)
        }
        Command::Snapshots(command) => snapshots(command, out),
        Command::Man { command, dir } => man(&command, dir.as_deref(), out),
    }
}

/// `authprobe man [COMMAND...]`, or every page into `dir`.
fn man(
    words: &[String],
    dir: Option<&std::path::Path>,
    out: &mut (dyn Write + Send),
) -> Result<u8, Error> {
    use crate::cli::manual;
    let pages = manual::pages();
    let file_name =
        |page: &clap::Command| format!("{}.1", page.get_display_name().unwrap_or("authprobe"));
    if let Some(dir) = dir {
        let failed = |path: &std::path::Path| {
            let path = path.to_path_buf();
            move |source| Error::Report {
                path,
                flag: "--dir",
                source,
            }
        };
        std::fs::create_dir_all(dir).map_err(failed(dir))?;
        for (_, page) in &pages {
            let mut text = Vec::new();
            manual::render(page, &mut text)?;
            let path = dir.join(file_name(page));
            std::fs::write(&path, text).map_err(failed(&path))?;
        }
        writeln!(
            out,
            "{} manual pages written to {}",
            pages.len(),
            dir.display()
        )?;
        return Ok(EXIT_OK);
    }
    let Some((_, page)) = pages.iter().find(|(path, _)| path == words) else {
        let known: Vec<String> = pages
            .iter()
            .filter(|(path, _)| !path.is_empty())
            .map(|(path, _)| path.join(" "))
            .collect();
        return Err(Error::Usage {
            message: format!("there is no manual page for `{}`", words.join(" ")),
            hint: format!("the commands with a page: {}", known.join(", ")),
        });
    };
    manual::render(page, out)?;
    Ok(EXIT_OK)
}

/// Builds mint settings from the command line; `issuer` is the default when `--iss` is absent.
pub(crate) fn mint_settings(args: &ClaimArgs, profile: Profile, issuer: String) -> MintSettings {
    let mut settings = MintSettings {
        issuer: args.iss.clone().unwrap_or(issuer),
        audience: args.aud.clone(),
        subject: args.sub.clone(),
        client_id: args.client_id.clone(),
        scope: args.scope.clone(),
        ttl: args.ttl,
        leeway: args.leeway,
        token_use: args.token_use,
        ..MintSettings::default()
    };
    if let Some(secret) = &args.secret {
        settings.secret = secret.clone().into_bytes();
    }
    let _ = profile;
    settings.extra = args.claims.iter().cloned().collect();
    settings
}

fn parse_kind(name: &str) -> Result<Kind, Error> {
    Kind::from_name(name).ok_or_else(|| Error::UnknownKind {
        name: name.to_string(),
        suggestions: Kind::suggest(name),
    })
}

/// Harness options from the shared target and claim arguments; the issuer is the IdP's unless
/// `--iss` names one.
pub(crate) fn harness_options(
    profile: Profile,
    target: &TargetArgs,
    claims: &ClaimArgs,
    simple_responses: bool,
) -> HarnessOptions {
    let mut settings = mint_settings(claims, profile, String::new());
    settings.issuer = claims.iss.clone().unwrap_or_default();
    HarnessOptions {
        profile,
        settings,
        target: target
            .target
            .clone()
            .unwrap_or(TargetSpec::Builtin(profile)),
        env: target.env.clone(),
        workdir: target.workdir.clone(),
        concurrency: usize::from(target.concurrency),
        timeout: target.timeout,
        keys_dir: target.dir.clone(),
        simple_responses,
        idp: crate::harness::IdpPlacement::default(),
        jwks_timeout: crate::authorizer::DEFAULT_JWKS_TIMEOUT,
        observe: false,
    }
}

/// Refuses `--env` and `--workdir` for a target that cannot use them: only a `lambda:`
/// target is a process authprobe starts; the others would silently ignore them.
fn check_target_args(target: &mut TargetArgs) -> Result<(), Error> {
    // --region and --profile-name belong to an aws-lambda: target: they go into its spec.
    match (&mut target.target, &target.region, &target.profile_name) {
        (Some(TargetSpec::AwsLambda(function)), region, profile) => {
            function.region = region.clone().or(function.region.take());
            function.profile = profile.clone().or(function.profile.take());
        }
        (_, None, None) => {}
        (_, region, _) => {
            return Err(Error::Usage {
                message: format!(
                    "{} is only for aws-lambda: targets",
                    if region.is_some() {
                        "--region"
                    } else {
                        "--profile-name"
                    }
                ),
                hint: "pass --target aws-lambda:FUNCTION, or drop the option".into(),
            });
        }
    }
    let flag = match (target.env.is_empty(), &target.workdir) {
        (false, _) => "--env",
        (true, Some(_)) => "--workdir",
        (true, None) => return Ok(()),
    };
    let hint = match &target.target {
        Some(TargetSpec::Lambda(_)) => return Ok(()),
        None | Some(TargetSpec::Builtin(_)) => {
            "a builtin: authorizer takes its settings from the profile; to run your own handler pass --target lambda:COMMAND"
        }
        Some(TargetSpec::Invoke(_) | TargetSpec::Url(_) | TargetSpec::AwsLambda(_)) => {
            "set the function's environment and code where it runs (docker run -e, the SAM template, the Lambda console)"
        }
    };
    let shown = target.target.as_ref().map_or_else(
        || "the default builtin: target".to_string(),
        ToString::to_string,
    );
    Err(Error::Usage {
        message: format!("{flag} is only for lambda: targets, and {shown} cannot use it"),
        hint: hint.into(),
    })
}

/// The profile a command runs: `--profile`, else the one a `builtin:` target names, else
/// jwks. A `--profile` that contradicts a `builtin:` target is bad usage.
/// `--token-use` is for the cognito profile, the one with two kinds of token.
fn check_token_use(token_use: Option<TokenUse>, profile: Profile) -> Result<(), Error> {
    match token_use {
        Some(t) if profile != Profile::Cognito => Err(Error::Usage {
            message: format!(
                "--token-use {t}: the {profile} profile has one kind of token; token uses are Cognito's"
            ),
            hint: "leave --token-use out: it is for runs on the cognito profile".into(),
        }),
        _ => Ok(()),
    }
}

fn resolve_profile(
    profile: Option<Profile>,
    target: Option<&TargetSpec>,
) -> Result<Profile, Error> {
    match (profile, target) {
        (Some(p), Some(TargetSpec::Builtin(b))) if p != *b => Err(Error::Usage {
            message: format!("--profile {p} does not match --target builtin:{b}"),
            hint: format!(
                "drop --profile (builtin:{b} implies --profile {b}) or pass --target builtin:{p}"
            ),
        }),
        (Some(p), _) => Ok(p),
        (None, Some(TargetSpec::Builtin(b))) => Ok(*b),
        (None, _) => Ok(Profile::Jwks),
    }
}

/// `--json` and `--junit` must not name one file, in any spelling (`r.json`, `./r.json`, a
/// link to the other): one report would overwrite the other.
fn check_report_paths(
    json: &Option<std::path::PathBuf>,
    junit: &Option<std::path::PathBuf>,
) -> Result<(), Error> {
    if let (Some(json), Some(junit)) = (json, junit)
        && crate::report::same_destination(json, junit)
    {
        return Err(Error::Usage {
            message: format!(
                "--json and --junit both name {}: one would overwrite the other",
                json.display()
            ),
            hint: "give each report its own path (at most one of them `-`, stdout)".into(),
        });
    }
    Ok(())
}

/// The folder of a run's reports: REPORT_DIR/RUN_ID, or RUN_ID-2, -3… for runs started in
/// the same second.
fn run_dir(report_dir: &std::path::Path, run_id: &str) -> std::path::PathBuf {
    let mut dir = report_dir.join(run_id);
    for n in 2.. {
        if !dir.exists() {
            break;
        }
        dir = report_dir.join(format!("{run_id}-{n}"));
    }
    dir
}

/// Maps a failed report write to the error naming the path and the flag that chose it.
fn report_error(
    path: &std::path::Path,
    flag: &'static str,
) -> impl FnOnce(std::io::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::Report { path, flag, source }
}

/// The host load traffic goes to, when it is not this machine: a `url:` stage, or the
/// endpoint an `invoke:` target calls for every request.
fn remote_host(target: &TargetSpec) -> Option<String> {
    let url = match target {
        TargetSpec::Url(url) | TargetSpec::Invoke(url) => url,
        // A deployed function: its endpoint is AWS's, or AWS_ENDPOINT_URL's.
        TargetSpec::AwsLambda(_) => {
            let endpoint = std::env::var("AWS_ENDPOINT_URL_LAMBDA")
                .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
                .unwrap_or_else(|_| "https://lambda.amazonaws.com".into());
            return remote_host(&TargetSpec::Url(endpoint));
        }
        TargetSpec::Builtin(_) | TargetSpec::Lambda(_) => return None,
    };
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!loopback).then_some(host)
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM.
async fn wait_for_stop() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
