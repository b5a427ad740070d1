//! `conform`: a conformance run, its terminal output and its reports.

use super::*;

pub(super) async fn conform(
    mut args: ConformArgs,
    out: &mut (dyn Write + Send),
) -> Result<u8, Error> {
    use crate::conform::{self, ConformOptions, profile, snapshot};
    check_target_args(&mut args.target)?;
    let mut spec = match &args.scenario {
        Some(path) => profile::load_for(path, args.token_use)?,
        None => profile::builtin_for(
            resolve_profile(args.profile, args.target.target.as_ref())?.name(),
            args.token_use,
        )?,
    };
    resolve_profile(Some(spec.profile), args.target.target.as_ref())?;
    check_token_use(args.token_use, spec.profile)?;
    spec.select(&args.cases).map_err(|message| Error::Usage {
        message,
        hint: "`--list` shows the case names".into(),
    })?;
    // The matrix's cells, listed after the cases: name, expectation, route, principal.
    let cells: Vec<(String, &str, String, String)> = spec
        .matrix
        .iter()
        .flat_map(|m| &m.principals)
        .flat_map(|p| {
            spec.routes
                .iter()
                .zip(&p.allowed)
                .map(move |(route, allowed)| {
                    (
                        format!("{} {route}", p.name),
                        if *allowed { "allow" } else { "deny" },
                        route.to_string(),
                        format!("matrix: principal `{}` ({})", p.name, p.claims_line()),
                    )
                })
        })
        .collect();
    if args.list
        && let Some(path) = &args.json
    {
        let mut cases: Vec<serde_json::Value> = spec
            .cases
            .iter()
            .map(|case| {
                serde_json::json!({
                    "name": case.name,
                    "expect": if case.expect_allow { "allow" } else { "reject" },
                    "route": case.route.to_string(),
                    "what": case.what(),
                })
            })
            .collect();
        cases.extend(cells.iter().map(|(name, expect, route, what)| {
            serde_json::json!({"name": name, "expect": expect, "route": route, "what": what})
        }));
        let text = serde_json::to_string_pretty(&cases).expect("JSON values serialize") + "\n";
        if path == std::path::Path::new("-") {
            out.write_all(text.as_bytes())?;
        } else {
            crate::report::write_file(path, &text).map_err(report_error(path, "--json"))?;
        }
        return Ok(EXIT_OK);
    }
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
        for (name, expect, route, what) in &cells {
            writeln!(out, "{name}\t{expect}\t{route}\t{what}")?;
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
    let mode =
        snapshot::UpdateMode::resolve(args.update_snapshots, args.in_ci()).map_err(|message| {
            Error::Usage {
                message,
                hint: format!("unset {}, or drop --update-snapshots", snapshot::UPDATE_VAR),
            }
        })?;
    let cwd = std::env::current_dir().unwrap_or_default();
    let named = args.snapshots.is_some() || args.name.is_some() || spec.name.is_some();
    let profile_label = snapshot::key::profile_label(&spec.origin, args.token_use, &cwd);
    let snapshots = (!args.no_snapshots).then(|| {
        let dir = args.snapshots.clone().unwrap_or_else(|| {
            snapshot::default_dir(
                args.name.as_deref().or(spec.name.as_deref()),
                &profile_label,
                &target,
                args.target.workdir.as_deref(),
                &cwd,
            )
        });
        snapshot::Snapshots::new(dir, mode, &profile_label)
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
    let principal_tokens = principal_tokens(&args, &spec)?;
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
        principal_tokens,
    };
    let color = crate::report::use_color(args.color);
    let verbosity = match (args.quiet, args.verbose) {
        (true, _) => crate::report::Verbosity::Quiet,
        (_, 1..) => crate::report::Verbosity::Verbose,
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
    let mut terminal = crate::report::Terminal::new(human, color)
        .with_verbosity(verbosity)
        .with_name_hint(!named);
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

/// `--principal-token-file` and `--principal-token-cmd`, each naming a principal of the
/// profile's matrix.
fn principal_tokens(
    args: &ConformArgs,
    spec: &crate::conform::profile::ProfileSpec,
) -> Result<Vec<(String, crate::tokens::source::TokenSource)>, Error> {
    use crate::tokens::source::TokenSource;
    let names: Vec<&str> = spec
        .matrix
        .iter()
        .flat_map(|m| &m.principals)
        .map(|p| p.name.as_str())
        .collect();
    let sources = args
        .principal_token_files
        .iter()
        .map(|(name, file)| (name, TokenSource::File(file.into())))
        .chain(
            args.principal_token_cmds
                .iter()
                .map(|(name, cmd)| (name, TokenSource::Command(cmd.clone()))),
        );
    let mut tokens: Vec<(String, TokenSource)> = Vec::new();
    for (name, source) in sources {
        if !names.contains(&name.as_str()) {
            return Err(Error::Usage {
                message: format!(
                    "--principal-token-*: `{name}` is not a principal of {}'s matrix",
                    spec.origin
                ),
                hint: if names.is_empty() {
                    "the profile has no [matrix]".into()
                } else {
                    format!("its principals: {}", names.join(", "))
                },
            });
        }
        if tokens.iter().any(|(n, _)| n == name) {
            return Err(Error::Usage {
                message: format!("principal `{name}` is given two tokens"),
                hint: "give each principal one --principal-token-file or --principal-token-cmd"
                    .into(),
            });
        }
        tokens.push((name.clone(), source));
    }
    Ok(tokens)
}
