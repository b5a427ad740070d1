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
        Command::Profile(ProfileCommand::Show { name }) => {
            let (_, text) = crate::conform::profile::BUILTIN
                .iter()
                .find(|(n, _)| *n == name.name())
                .expect("every profile is built in");
            out.write_all(text.as_bytes())?;
            Ok(EXIT_OK)
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "authprobe", out);
            Ok(EXIT_OK)
        }
        Command::Man => {
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(out)?;
            Ok(EXIT_OK)
        }
    }
}

fn keys_generate(args: KeysGenerate, out: &mut (dyn Write + Send)) -> Result<u8, Error> {
    if let Some(kid) = &args.kid {
        if args.count > 1 {
            return Err(Error::Usage {
                message: "--kid names one key, but --count asks for several".into(),
                hint: "drop --kid (kids are then thumbprints) or use --count 1".into(),
            });
        }
        keys::validate_kid(kid)?;
    }
    let dir = KeyDir::new(&args.dir);
    let existing = match (args.add, args.force) {
        (true, _) => Existing::Add,
        (_, true) => Existing::Replace,
        _ => Existing::Refuse,
    };
    // Refuse before spending time on key generation.
    dir.check_store(existing)?;
    if args.bits == keys::KeyBits::Weak1024 {
        eprintln!(
            "warning: 1024-bit keys are deliberately weak; use them only for the weak-key case"
        );
    }
    let mut made = keys::generate_many(args.bits, usize::from(args.count))?;
    if let Some(kid) = args.kid {
        made = made.into_iter().map(|k| k.with_kid(kid.clone())).collect();
    }
    let written = dir.store(&made, existing)?;
    for (key, path) in made.iter().zip(&written) {
        writeln!(
            out,
            "{}\t{} bits\t{}",
            key.kid(),
            key.bits(),
            path.display()
        )?;
    }
    eprintln!(
        "wrote {} key(s) and {}",
        written.len(),
        args.dir.join(keys::JWKS_FILE).display()
    );
    Ok(EXIT_OK)
}

fn token_list(
    profile: Option<Profile>,
    token_use: TokenUse,
    json: bool,
    keyless: bool,
    out: &mut (dyn Write + Send),
) -> Result<u8, Error> {
    use crate::tokens::keyless as kl;
    let mut rows = Vec::new();
    for kind in Kind::ALL {
        let direction = match profile {
            Some(p) => match kind.expect(p, token_use) {
                Some(e) => e,
                None => continue,
            },
            None => kind.direction(),
        };
        if keyless {
            let (column, what) = match kl::needs_issuer_key(*kind) {
                Some(why) => ("issuer-key", why),
                None => ("keyless", kl::what(*kind)),
            };
            if json {
                rows.push(serde_json::json!({
                    "name": kind.name(),
                    "expect": direction.word(),
                    "keyless": column == "keyless",
                    "what": what,
                }));
            } else {
                writeln!(
                    out,
                    "{}\t{}\t{column}\t{what}",
                    kind.name(),
                    direction.word()
                )?;
            }
        } else if json {
            rows.push(serde_json::json!({
                "name": kind.name(),
                "expect": direction.word(),
                "what": kind.what(),
            }));
        } else {
            writeln!(
                out,
                "{}\t{}\t{}",
                kind.name(),
                direction.word(),
                kind.what()
            )?;
        }
    }
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&rows).expect("JSON")
        )?;
    }
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

fn token_mint(args: TokenMint, out: &mut (dyn Write + Send)) -> Result<u8, Error> {
    let kind = Kind::from_name(&args.kind).ok_or_else(|| Error::UnknownKind {
        name: args.kind.clone(),
        suggestions: Kind::suggest(&args.kind),
    })?;
    let (region, _) =
        crate::cli::split_pool_id(&args.claims.pool_id).map_err(|message| Error::Usage {
            message,
            hint: "pass --pool-id like us-east-1_abc123".into(),
        })?;
    let default_issuer = match args.profile {
        Profile::Cognito => format!(
            "https://cognito-idp.{region}.amazonaws.com/{}",
            args.claims.pool_id
        ),
        _ => MintSettings::default().issuer,
    };
    let settings = mint_settings(&args.claims, args.profile, default_issuer);
    // Refuse kinds that do not apply before reading or making keys.
    if kind.expect(args.profile, settings.token_use).is_none() {
        return Err(crate::tokens::MintError::NotApplicable {
            kind,
            profile: args.profile,
            token_use: settings.token_use,
        }
        .into());
    }
    // Keys are read only for the profiles that sign with them; a static or hs256 mint makes
    // none (the ring makes a key on first use, and nothing RSA is signed for those).
    let ring = if args.profile.signs_with_rsa() {
        KeyRing::from_keys(KeyDir::new(&args.dir).load()?, &args.dir)?
    } else {
        KeyRing::on_demand()
    };
    let minted = Minter::new(args.profile, ring, settings).mint(kind)?;
    if args.raw {
        writeln!(out, "{}", minted.credential)?;
    } else {
        writeln!(out, "{}", minted.header_value())?;
    }
    Ok(EXIT_OK)
}

async fn idp_serve(
    dir: std::path::PathBuf,
    addr: std::net::SocketAddr,
    expose: bool,
    pool_id: String,
    oauth: crate::cli::IdpClientArgs,
    out: &mut (dyn Write + Send),
) -> Result<u8, Error> {
    crate::net::check_listen(addr, expose)?;
    let (region, pool_suffix) =
        crate::cli::split_pool_id(&pool_id).map_err(|message| Error::Usage {
            message,
            hint: "pass --pool-id like us-east-1_abc123".into(),
        })?;
    let oauth_clients = match &oauth.client_secret_env {
        Some(var) => vec![crate::idp::OAuthClient {
            id: oauth.client_id.clone(),
            secret: crate::cli::secret_from_env("--client-secret-env", var)?,
            scopes: oauth.scopes.clone(),
        }],
        None => Vec::new(),
    };
    let keys = KeyDir::new(&dir).load()?;
    let attacker = Arc::new(SigningKey::generate(keys::KeyBits::B2048)?);
    let config = IdpConfig {
        addr,
        region,
        pool_suffix,
        reload_from: Some(dir.clone()),
        control_token: expose.then(crate::net::ControlToken::generate),
        public_url: None,
        oauth_clients,
    };
    let token = config.control_token.clone();
    let idp = Idp::start(
        keys.into_iter().map(Arc::new).collect(),
        Some(attacker),
        config,
    )
    .await?;
    writeln!(out, "jwks_url\t{}", idp.jwks_url())?;
    writeln!(out, "issuer\t{}", idp.issuer())?;
    writeln!(out, "cognito_jwks_url\t{}", idp.cognito_jwks_url())?;
    writeln!(out, "cognito_issuer\t{}", idp.cognito_issuer())?;
    if oauth.client_secret_env.is_some() {
        writeln!(out, "token_url\t{}", idp.token_url())?;
        writeln!(out, "cognito_token_url\t{}", idp.cognito_token_url())?;
    }
    if let Some(token) = &token {
        writeln!(out, "control_token\t{}", token.as_str())?;
    }
    out.flush()?;
    eprintln!(
        "serving {} key(s) from {} until Ctrl-C; control: {}{}/{{stats,fault,reload}}",
        idp.published_kids().len(),
        dir.display(),
        idp.base_url(),
        crate::idp::ADMIN_PREFIX
    );
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("stopped after {} JWKS fetch(es)", idp.jwks_fetches());
    Ok(EXIT_OK)
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

async fn invoke(mut args: InvokeArgs, out: &mut (dyn Write + Send)) -> Result<u8, Error> {
    check_target_args(&mut args.target)?;
    let kind = args.kind.as_deref().map(parse_kind).transpose()?;
    let profile = resolve_profile(args.profile, args.target.target.as_ref())?;
    let mut options = harness_options(profile, &args.target, &args.claims, args.simple_responses);
    options.idp = args.target.idp()?;
    let harness = Harness::start(options).await?;
    let (header, kind) = match (&args.token, kind) {
        (Some(token), _) => (Some(token.clone()), None),
        (None, kind) => {
            let kind = kind.unwrap_or_else(|| harness.minter.good_kind());
            let minted = harness.minter.mint(kind)?;
            (Some(minted.header_value()), Some(kind))
        }
    };
    let mut api = Api::default();
    let mut request = ClientRequest::get("/hello", header);
    if let Some(arn) = &args.method_arn {
        let parsed = crate::policy::MethodArn::parse(arn).ok_or_else(|| Error::Usage {
            message: format!("`{arn}` is not a method ARN"),
            hint: "write arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/VERB/PATH".into(),
        })?;
        api.region = parsed.region.clone();
        api.account = parsed.account.clone();
        api.api_id = parsed.api_id.clone();
        api.stage = parsed.stage.clone();
        request.method = parsed.verb.clone();
        request.path = format!("/{}", parsed.path);
    }
    let call = Call {
        event: event::build(args.event, &api, &request),
        request: request.clone(),
    };
    let answer = harness.target.call(&call).await;
    let arn = request.method_arn(&api).to_string();
    let (outcome, why) =
        crate::target::classify(&answer.reply, args.event.api(args.simple_responses), &arn);
    let shape = serde_json::to_value(args.event).expect("event kind");
    let expected = kind.and_then(|k| harness.minter.expect(k));
    if args.json {
        let (response, error) = match &answer.reply {
            Ok(crate::target::Reply::Response(doc)) => (Some(doc.clone()), None),
            Ok(crate::target::Reply::FunctionError {
                error_type,
                message,
                stack,
            }) => (
                None,
                Some(serde_json::json!({
                    "type": error_type, "message": message, "stack": stack
                })),
            ),
            Ok(crate::target::Reply::Http { status, body }) => (
                None,
                Some(serde_json::json!({ "http_status": status, "body": body })),
            ),
            Err(e) => (
                None,
                Some(serde_json::json!({ "could_not_ask": e.to_string() })),
            ),
        };
        let doc = serde_json::json!({
            "target": harness.target.describe(),
            "event": shape,
            "method_arn": arn,
            "kind": kind.map(|k| k.name()),
            "expected": expected.map(Expect::word),
            "outcome": outcome,
            "why": why,
            "elapsed_ms": answer.elapsed.as_secs_f64() * 1e3,
            "cold": answer.cold,
            "response": response,
            "error": error,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc).expect("JSON"))?;
    } else {
        invoke_text(
            out,
            &harness,
            &shape,
            &arn,
            kind,
            expected,
            (outcome, &why),
            &answer,
        )?;
    }
    harness.target.shutdown().await;
    if let Err(e) = &answer.reply
        && e.is_could_not_ask()
    {
        return Ok(crate::EXIT_COULD_NOT_RUN);
    }
    let matches = match expected {
        Some(Expect::Allow) => outcome == crate::target::Outcome::Allow,
        Some(Expect::Reject(_)) => outcome == crate::target::Outcome::Unauthorized,
        // No expectation: only an answer API Gateway would turn into a 500 is a failure.
        None => outcome != crate::target::Outcome::Error,
    };
    Ok(if matches { EXIT_OK } else { crate::EXIT_FAILED })
}

/// The human-readable answer of `invoke`.
#[allow(clippy::too_many_arguments)]
fn invoke_text(
    out: &mut (dyn Write + Send),
    harness: &Harness,
    shape: &serde_json::Value,
    arn: &str,
    kind: Option<Kind>,
    expected: Option<Expect>,
    (outcome, why): (crate::target::Outcome, &str),
    answer: &crate::target::Answer,
) -> Result<(), Error> {
    writeln!(out, "target    {}", harness.target.describe())?;
    writeln!(
        out,
        "event     {}  {arn}",
        shape.as_str().unwrap_or_default()
    )?;
    if let Some(k) = kind {
        let word = expected.map_or("n/a", Expect::word);
        writeln!(out, "token     {k} (a correct authorizer would {word})")?;
    }
    let temperature = if answer.cold { "cold" } else { "warm" };
    writeln!(
        out,
        "outcome   {outcome}  ({})  {:.1} ms {temperature}",
        crate::report::printable_line(why),
        answer.elapsed.as_secs_f64() * 1e3
    )?;
    // Everything below came from the target: printable, so it cannot drive the terminal.
    let response = match &answer.reply {
        Ok(crate::target::Reply::Response(doc)) => serde_json::to_string_pretty(doc).expect("JSON"),
        Ok(crate::target::Reply::FunctionError {
            error_type,
            message,
            stack,
        }) => {
            let mut text = format!("error {error_type}: {message}");
            for frame in stack {
                text.push('\n');
                text.push_str(frame.trim_end());
            }
            text
        }
        Ok(crate::target::Reply::Http { status, body }) => format!("HTTP {status}\n{body}"),
        Err(e) => format!("(none: {e})"),
    };
    writeln!(out, "response\n{}", crate::report::printable(&response))?;
    Ok(())
}

async fn conform(mut args: ConformArgs, out: &mut (dyn Write + Send)) -> Result<u8, Error> {
    use crate::conform::{self, ConformOptions, profile, snapshot};
    check_target_args(&mut args.target)?;
    let mut spec = match &args.scenario {
        Some(path) => profile::load(path)?,
        None => {
            profile::builtin(resolve_profile(args.profile, args.target.target.as_ref())?.name())?
        }
    };
    resolve_profile(Some(spec.profile), args.target.target.as_ref())?;
    spec.select(&args.cases).map_err(|message| Error::Usage {
        message,
        hint: "`--list` shows the case names".into(),
    })?;
    if args.list {
        for case in &spec.cases {
            let expect = if case.expect_allow { "allow" } else { "reject" };
            writeln!(
                out,
                "{}\t{expect}\t{}\t{}",
                case.name,
                case.route,
                case.what()
            )?;
        }
        return Ok(EXIT_OK);
    }
    let stdout_report = |path: &Option<std::path::PathBuf>| {
        path.as_deref()
            .is_some_and(|p| p == std::path::Path::new("-"))
    };
    check_report_paths(&args.json, &args.junit)?;
    let report_on_stdout = stdout_report(&args.json) || stdout_report(&args.junit);
    let target = args
        .target
        .target
        .clone()
        .unwrap_or(TargetSpec::Builtin(spec.profile));
    if args.update_snapshots
        && let Some(mode) = snapshot::user_update_setting()
        && !matches!(mode.as_str(), "always" | "force")
    {
        return Err(Error::Usage {
            message: format!(
                "--update-snapshots asks to accept changed snapshots, but INSTA_UPDATE={mode} in the environment says not to"
            ),
            hint: "unset INSTA_UPDATE, or drop --update-snapshots".into(),
        });
    }
    let snapshots = (!args.no_snapshots).then(|| {
        let dir = args.snapshots.clone().unwrap_or_else(|| {
            let cwd = std::env::current_dir().unwrap_or_default();
            snapshot::default_dir(
                args.name.as_deref().or(spec.name.as_deref()),
                spec.profile,
                &target,
                args.target.workdir.as_deref(),
                &cwd,
            )
        });
        snapshot::Snapshots::new(dir)
    });
    if let Some(snapshots) = &snapshots {
        snapshots.prepare()?;
    }
    let identity = args
        .identity
        .external(spec.identity == profile::Identity::External)?;
    if identity.is_some() && !matches!(spec.profile, Profile::Jwks | Profile::Cognito) {
        return Err(Error::Usage {
            message: format!(
                "a key-less run (real good tokens) is for JWT authorizers, not the {} profile",
                spec.profile
            ),
            hint: "use --profile jwks or --profile cognito, or a profile file of either".into(),
        });
    }
    let mut extra_headers: Vec<(String, crate::tokens::source::Secret)> = args
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), crate::tokens::source::Secret::new(v.clone())))
        .collect();
    for (name, var) in &args.header_env {
        let value = crate::cli::secret_from_env("--header-env", var)?;
        extra_headers.push((
            name.to_ascii_lowercase(),
            crate::tokens::source::Secret::new(value),
        ));
    }
    if args.token_header.is_some() && !matches!(target, TargetSpec::Url(_)) {
        return Err(Error::Usage {
            message: "--token-header is for url: targets".into(),
            hint: "with other targets the gateway emulator reads the Authorization header; set identity sources with `gateway serve --identity-source`".into(),
        });
    }
    let spec_rotation_window = spec.rotation_window;
    let options = ConformOptions {
        profile: spec,
        target,
        env: args.target.env.clone(),
        workdir: args.target.workdir.clone(),
        concurrency: usize::from(args.target.concurrency),
        timeout: args.target.timeout,
        idp: args.target.idp()?,
        keys_dir: args.target.dir.clone(),
        cache_ttl: args.cache_ttl,
        strict: args.strict,
        snapshots,
        rotation_window: args
            .rotation_window
            .or(spec_rotation_window)
            .unwrap_or(crate::conform::DEFAULT_ROTATION_WINDOW),
        stop: crate::stop::StopRequest::from_signals().map_err(Error::Output)?,
        calibrate: !args.no_calibrate,
        identity,
        jobs: args.jobs.map(usize::from),
        extra_headers,
        token_header: args.token_header.clone(),
    };
    let color = crate::report::use_color(args.color);
    let verbosity = match (args.quiet, args.verbose) {
        (true, _) => crate::report::Verbosity::Quiet,
        (_, true) => crate::report::Verbosity::Verbose,
        _ => crate::report::Verbosity::Normal,
    };
    // With a report on stdout, stdout is exactly that report: the run's own output goes to
    // stderr.
    let mut stderr = std::io::stderr();
    let human: &mut (dyn Write + Send) = if report_on_stdout {
        &mut stderr
    } else {
        &mut *out
    };
    let mut terminal = crate::report::Terminal::new(human, color).with_verbosity(verbosity);
    let report = conform::run(&options, &mut |event| terminal.event(event)).await?;
    let run_dir = run_dir(&args.report_dir, &report.run_id);
    let junit = args.junit.as_ref().map(|_| crate::report::junit(&report));
    let json = args.json.as_ref().map(|_| crate::report::json(&report));
    let files = [
        ("--junit", &args.junit, &junit),
        ("--json", &args.json, &json),
    ];
    // The verdict is printed first: a report that cannot be written must not hide it.
    let written = crate::report::write_all(&report, &run_dir)
        .map_err(report_error(&run_dir, "--report-dir"))
        .and_then(|_| {
            for (flag, path, body) in files {
                if let (Some(path), Some(body)) = (path, body)
                    && !stdout_report(&Some(path.clone()))
                {
                    crate::report::write_file(path, body).map_err(report_error(path, flag))?;
                }
            }
            Ok(())
        });
    terminal.finish(&report, written.is_ok().then_some(run_dir.as_path()));
    for (_, path, body) in files {
        if let Some(body) = body
            && stdout_report(path)
        {
            out.write_all(body.as_bytes())?;
            if !body.ends_with('\n') {
                writeln!(out)?;
            }
            out.flush()?;
        }
    }
    match written {
        Err(e) if report.exit_code() == crate::EXIT_OK => Err(e),
        Err(e) => {
            eprintln!("error: {}", e.chain());
            Ok(report.exit_code())
        }
        Ok(()) => Ok(report.exit_code()),
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

async fn gateway_serve(
    mut args: GatewayServeArgs,
    out: &mut (dyn Write + Send),
) -> Result<u8, Error> {
    use crate::conform::profile;
    use crate::gateway::{
        AuthorizerSettings, Backend, Front, Gateway, GatewayConfig, IdentitySource, Route,
    };
    let usage = |message: String, hint: &str| Error::Usage {
        message,
        hint: hint.to_string(),
    };
    crate::net::check_listen(args.addr, args.expose)?;
    check_target_args(&mut args.target)?;
    if let Some(TargetSpec::Url(_)) = &args.target.target {
        return Err(usage(
            "a url: target is a deployed API: it has its own gateway".into(),
            "pass a builtin:, lambda: or invoke: target",
        ));
    }
    let spec = match &args.scenario {
        Some(path) => profile::load(path)?,
        None => {
            profile::builtin(resolve_profile(args.profile, args.target.target.as_ref())?.name())?
        }
    };
    resolve_profile(Some(spec.profile), args.target.target.as_ref())?;
    let routes: Vec<Route> = if args.routes.is_empty() {
        spec.routes
            .iter()
            .map(|r| Route {
                method: r.method.clone(),
                path: r.path.clone(),
            })
            .collect()
    } else {
        args.routes.clone()
    };
    let mut authorizer = AuthorizerSettings::new(spec.event, spec.simple_responses);
    if !args.identity_sources.is_empty() {
        authorizer.identity_sources = args.identity_sources.clone();
    }
    authorizer.validation_expression = args.validation_expression.clone();
    let api = Api {
        stage: args.stage.clone(),
        stage_variables: args.stage_variables.iter().cloned().collect(),
        ..Api::default()
    };
    let config = GatewayConfig {
        authorizer,
        cache_ttl: args.cache_ttl.unwrap_or(spec.cache_ttl),
        backend: args.backend.clone().map_or(Backend::Echo, Backend::Proxy),
        ..GatewayConfig::new(api, routes)
    };
    let harness = Harness::start(HarnessOptions {
        profile: spec.profile,
        settings: spec.mint_settings(),
        target: args
            .target
            .target
            .clone()
            .unwrap_or(TargetSpec::Builtin(spec.profile)),
        env: args.target.env.clone(),
        workdir: args.target.workdir.clone(),
        concurrency: usize::from(args.target.concurrency),
        timeout: args.target.timeout,
        keys_dir: args.target.dir.clone(),
        simple_responses: spec.simple_responses,
        idp: args.target.idp()?,
        jwks_timeout: spec.jwks_timeout,
    })
    .await?;
    let gateway = Gateway::new(config, harness.target.clone()).map_err(|e| {
        usage(
            e.to_string(),
            "check --stage, --route, --cache-ttl, --identity-source and --validation-expression",
        )
    })?;
    let gateway = std::sync::Arc::new(gateway);
    let control_token = args.expose.then(crate::net::ControlToken::generate);
    let limits = crate::gateway::front::Limits {
        header_read_timeout: args.header_read_timeout,
        max_connections: args.max_connections as usize,
        max_body: args.max_body as usize,
    };
    let front = Front::start_with(gateway.clone(), args.addr, control_token.clone(), limits)
        .await
        .map_err(|source| {
            usage(
                format!("cannot listen on {}: {source}", args.addr),
                "pick another --addr, or port 0 for a free one",
            )
        })?;
    writeln!(out, "{}", front.base_url())?;
    if let Some(token) = &control_token {
        writeln!(out, "control_token\t{}", token.as_str())?;
    }
    out.flush()?;
    let c = gateway.config();
    let sources: Vec<String> = c
        .authorizer
        .identity_sources
        .iter()
        .map(IdentitySource::to_string)
        .collect();
    eprintln!(
        "gateway for {} ({:?} authorizer on {}), cache TTL {} s, routes: {}",
        harness.target.describe(),
        c.authorizer.event,
        sources.join(", "),
        c.cache_ttl,
        c.routes
            .iter()
            .map(Route::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Ok(minted) = harness.minter.mint(harness.minter.good_kind()) {
        eprintln!(
            "try: curl -H 'Authorization: {}' {}{}",
            minted.header_value(),
            front.base_url(),
            c.routes[0].path
        );
    }
    eprintln!("counters: {}; Ctrl-C stops", front.stats_url());
    wait_for_stop().await;
    let stats = gateway.stats();
    eprintln!(
        "stopped after {} request(s), {} authorizer invocation(s), {} cache hit(s)",
        stats.requests, stats.authorizer_invocations, stats.cache_hits
    );
    drop(front);
    harness.target.shutdown().await;
    Ok(EXIT_OK)
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

async fn load(mut args: LoadArgs, out: &mut (dyn Write + Send)) -> Result<u8, Error> {
    use crate::load::{self, scenario};
    let usage = |message: String, hint: &str| Error::Usage {
        message,
        hint: hint.to_string(),
    };
    check_report_paths(&args.json, &args.junit)?;
    let as_file = args.scenario.ends_with(".toml") || args.scenario.contains('/');
    if args.show {
        let text = if as_file {
            crate::conform::profile::read_text(std::path::Path::new(&args.scenario))?
        } else {
            scenario::BUILTIN
                .iter()
                .find(|(n, _)| *n == args.scenario)
                .map(|(_, t)| t.to_string())
                .ok_or_else(|| {
                    usage(
                        format!("no built-in load scenario `{}`", args.scenario),
                        &format!(
                            "the built-in ones are {}",
                            scenario::builtin_names().join(", ")
                        ),
                    )
                })?
        };
        out.write_all(text.as_bytes())?;
        return Ok(EXIT_OK);
    }
    check_target_args(&mut args.target)?;
    let mut s = if as_file {
        scenario::load(std::path::Path::new(&args.scenario))?
    } else {
        scenario::builtin(&args.scenario).map_err(|_| {
            usage(
                format!("no built-in load scenario `{}`", args.scenario),
                &format!(
                    "the built-in ones are {}; a file must end in .toml",
                    scenario::builtin_names().join(", ")
                ),
            )
        })?
    };
    let target = args
        .target
        .target
        .clone()
        .unwrap_or(TargetSpec::Builtin(s.profile.profile));
    resolve_profile(Some(s.profile.profile), Some(&target))?;
    // Load goes to this machine unless the user says otherwise, and then it is bounded.
    if let Some(host) = remote_host(&target) {
        if !args.allow_remote {
            return Err(usage(
                format!(
                    "{target} is not on this machine ({host}): load goes to 127.0.0.1 and ::1 only"
                ),
                "to load a deployed stage on purpose, pass --allow-remote with --max-requests N and --run-time DURATION",
            ));
        }
        if args.max_requests.is_none() || args.run_time.is_none() {
            return Err(usage(
                format!("load against {host} needs both --max-requests and --run-time"),
                "bound a run against a deployed stage: e.g. --max-requests 1000 --run-time 30s",
            ));
        }
    }
    if args.authorizer_latency.is_some() && !matches!(target, TargetSpec::Builtin(_)) {
        return Err(usage(
            "--authorizer-latency is for builtin: targets".into(),
            "a lambda:, invoke: or url: target has its own, real invoke overhead",
        ));
    }
    if !args.cache_ttl.is_empty() {
        let mut ttls = args.cache_ttl.clone();
        ttls.dedup();
        s.cache_ttls = ttls;
        s.thresholds
            .retain(|t| t.ttl.is_none_or(|ttl| s.cache_ttls.contains(&ttl)));
    }
    if let Some(users) = args.users {
        s.users = users as usize;
        s.increase_rate = s.increase_rate.max(users as f64);
    }
    if let Some(d) = args.run_time {
        s.bound = scenario::Bound::Time(d);
    }
    if let Some(n) = args.iterations {
        s.bound = scenario::Bound::Iterations(n as usize);
    }
    if let Some(rps) = args.throttle {
        s.throttle_rps = Some(rps as usize);
    }
    if let Some(pool) = args.pool {
        s.pool = pool as usize;
    }
    if let Some(t) = args
        .thresholds
        .iter()
        .find(|t| t.ttl.is_some_and(|ttl| !s.cache_ttls.contains(&ttl)))
    {
        return Err(usage(
            format!("--threshold '{t}' names a TTL this run does not have"),
            &format!(
                "the run's TTLs are {}",
                s.cache_ttls
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    s.thresholds.extend(args.thresholds.iter().cloned());
    let stop = crate::stop::StopRequest::from_signals().map_err(Error::Output)?;
    let stamp_dir = args.report_dir.clone();
    let options = load::LoadOptions {
        harness: HarnessOptions {
            profile: s.profile.profile,
            settings: s.profile.mint_settings(),
            target,
            env: args.target.env.clone(),
            workdir: args.target.workdir.clone(),
            concurrency: usize::from(args.target.concurrency),
            timeout: args.target.timeout,
            keys_dir: args.target.dir.clone(),
            simple_responses: s.profile.simple_responses,
            idp: args.target.idp()?,
            jwks_timeout: s.profile.jwks_timeout,
        },
        scenario: s,
        authorizer_latency: args.authorizer_latency.unwrap_or_default(),
        max_requests: args.max_requests,
        // goose writes its reports while the run folder's name is not known yet.
        goose_reports: Some(stamp_dir.join(format!(".goose-{}", std::process::id()))),
        stop,
    };
    let goose_dir = options.goose_reports.clone();
    let mut progress = crate::report::load::LoadProgress::new();
    let report = load::run(options, &mut |event| progress.event(event)).await;
    progress.finish();
    let mut report = report?;
    let run_dir = run_dir(&args.report_dir, &report.run_id);
    std::fs::create_dir_all(&run_dir).map_err(report_error(&run_dir, "--report-dir"))?;
    // goose's own reports move into the run's folder.
    for r in &mut report.ttls {
        if let Some(from) = r.goose_report.take().map(std::path::PathBuf::from)
            && let Some(name) = from.file_name()
        {
            let to = run_dir.join(name);
            if std::fs::rename(&from, &to).is_ok() {
                r.goose_report = Some(to.display().to_string());
            }
        }
    }
    if let Some(dir) = goose_dir {
        let _ = std::fs::remove_dir(dir);
    }
    writeln!(out, "\n{}", crate::report::load::table(&report))?;
    for line in crate::report::load::benefit(&report) {
        writeln!(out, "{line}")?;
    }
    for line in crate::report::load::threshold_lines(&report) {
        writeln!(out, "{line}")?;
    }
    if let Some(signal) = report.interrupted {
        writeln!(
            out,
            "stopped by {}: the report holds what ran",
            signal.name()
        )?;
    }
    let written = crate::report::load::write_all(&report, &run_dir)
        .map_err(report_error(&run_dir, "--report-dir"))
        .and_then(|_| {
            if let Some(path) = &args.junit {
                crate::report::write_file(path, &crate::report::load::junit(&report))
                    .map_err(report_error(path, "--junit"))?;
            }
            if let Some(path) = &args.json {
                crate::report::write_file(path, &crate::report::load::json(&report))
                    .map_err(report_error(path, "--json"))?;
            }
            Ok(())
        });
    match written {
        Ok(()) => writeln!(out, "reports: {}", run_dir.join("load.html").display())?,
        Err(e) => {
            eprintln!("error: {}", e.chain());
            if report.exit_code() == EXIT_OK {
                return Err(e);
            }
        }
    }
    out.flush()?;
    Ok(report.exit_code())
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
