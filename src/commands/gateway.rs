//! `gateway serve`: the API Gateway emulator on an HTTP front until Ctrl-C.

use super::*;

pub(super) async fn gateway_serve(
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
        Some(path) => profile::load_for(path, args.token_use)?,
        None => profile::builtin_for(
            resolve_profile(args.profile, args.target.target.as_ref())?.name(),
            args.token_use,
        )?,
    };
    resolve_profile(Some(spec.profile), args.target.target.as_ref())?;
    check_token_use(args.token_use, spec.profile)?;
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
        observe: false,
    })
    .await?;
    let gateway = Gateway::new(config, harness.target.clone()).map_err(|e| {
        usage(
            e.to_string(),
            "check --stage, --route, --cache-ttl, --identity-source and --validation-expression",
        )
    })?;
    let stage = args.stage.clone();
    let gateway = std::sync::Arc::new(if args.quiet {
        gateway
    } else {
        gateway.with_request_log(Box::new(move |request, response, secrets| {
            eprint!("{}", served(&stage, request, response, secrets))
        }))
    });
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
        if harness.profile != crate::tokens::Profile::Static {
            let ttl = harness.minter.settings().ttl;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let (_, until) = crate::conform::timestamps(now + ttl.as_secs() as i64);
            eprintln!(
                "that token expires in {} (at {until}); after that curl gets 401: restart `gateway serve` for a new one",
                humantime::format_duration(ttl)
            );
        }
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

/// One request `gateway serve` answered, as it prints it on stderr: the request, the status
/// and the authorizer's part, then what the handler printed while it answered, with the
/// request's token (and every other identity-source value) taken out.
fn served(
    stage: &str,
    request: &crate::gateway::GatewayRequest,
    response: &crate::gateway::GatewayResponse,
    secrets: &[String],
) -> String {
    use crate::gateway::AuthStep;
    use crate::report::printable_line;
    let authorizer = match &response.auth {
        AuthStep::Invoked(answer) => format!(
            "authorizer invoked{}, {:.1} ms",
            if answer.cold { " (cold start)" } else { "" },
            answer.elapsed.as_secs_f64() * 1e3
        ),
        AuthStep::Cached(_) => "cached policy".to_string(),
        AuthStep::NotInvoked => "authorizer not invoked".to_string(),
    };
    let outcome = response
        .outcome
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    let mut text = format!(
        "{} /{stage}{} -> {}{outcome} ({authorizer})\n",
        printable_line(&request.method),
        printable_line(&request.path),
        response.status,
    );
    if let AuthStep::Invoked(answer) = &response.auth {
        let pairs: Vec<(&str, &str)> = secrets.iter().map(|s| (s.as_str(), "[token]")).collect();
        let output = answer.output.redacted(&pairs);
        for line in &output.lines {
            text.push_str(&format!(
                "  {:<6} | {}\n",
                line.stream.name(),
                printable_line(&line.text.replace('\t', "  "))
            ));
        }
        if output.dropped > 0 {
            text.push_str(&format!("  … {} more line(s) not kept\n", output.dropped));
        }
    }
    text
}
