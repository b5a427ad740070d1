//! `load`: goose attacks through the gateway, one per cache TTL, and their reports.

use super::*;

pub(super) async fn load(mut args: LoadArgs, out: &mut (dyn Write + Send)) -> Result<u8, Error> {
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
        scenario::load(std::path::Path::new(&args.scenario), args.token_use)?
    } else {
        scenario::builtin(&args.scenario, args.token_use).map_err(|e| {
            if !matches!(e, crate::conform::profile::ProfileError::Unknown(_)) {
                return e.into();
            }
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
    check_token_use(args.token_use, s.profile.profile)?;
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
            observe: false,
        },
        scenario: s,
        authorizer_latency: args.authorizer_latency.unwrap_or_default(),
        max_requests: args.max_requests,
        stop,
    };
    let mut progress = crate::report::load::LoadProgress::new();
    let report = load::run(options, &mut |event| progress.event(event)).await;
    progress.finish();
    let report = report?;
    let run_dir = run_dir(&args.report_dir, &report.run_id);
    std::fs::create_dir_all(&run_dir).map_err(report_error(&run_dir, "--report-dir"))?;
    // The reports first: a reader that closes stdout early (`| head`) must not cost them.
    let is_stdout = |path: &Option<std::path::PathBuf>| {
        path.as_deref()
            .is_some_and(|p| p == std::path::Path::new("-"))
    };
    let files = [
        (
            "--junit",
            &args.junit,
            crate::report::load::junit as fn(&_) -> String,
        ),
        ("--json", &args.json, crate::report::load::json),
    ];
    let written = crate::report::load::write_all(&report, &run_dir)
        .map_err(report_error(&run_dir, "--report-dir"))
        .and_then(|_| {
            for (flag, path, render) in files {
                if let Some(path) = path
                    && !is_stdout(&Some(path.clone()))
                {
                    crate::report::write_file(path, &render(&report))
                        .map_err(report_error(path, flag))?;
                }
            }
            Ok(())
        });
    // With a report on stdout, stdout is exactly that report: the summary goes to stderr.
    let mut stderr = std::io::stderr();
    let human: &mut (dyn Write + Send) = if is_stdout(&args.json) || is_stdout(&args.junit) {
        &mut stderr
    } else {
        &mut *out
    };
    let printed = print_summary(human, &report, &run_dir, written.is_ok()).and_then(|()| {
        for (_, path, render) in files {
            if is_stdout(path) {
                let body = render(&report);
                out.write_all(body.as_bytes())?;
                if !body.ends_with('\n') {
                    writeln!(out)?;
                }
            }
        }
        out.flush()
    });
    if let Err(e) = written {
        eprintln!("error: {}", e.chain());
        if report.exit_code() == EXIT_OK {
            return Err(e);
        }
    }
    match printed {
        // A closed pipe is the reader's choice: the verdict is still the exit code.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(Error::Output(e)),
        Ok(()) => {}
    }
    Ok(report.exit_code())
}

/// The table, the cache benefit, the thresholds and where the reports are.
fn print_summary(
    out: &mut (dyn Write + Send),
    report: &crate::load::LoadReport,
    run_dir: &std::path::Path,
    written: bool,
) -> std::io::Result<()> {
    writeln!(out, "\n{}", crate::report::load::table(report))?;
    for line in crate::report::load::benefit(report) {
        writeln!(out, "{line}")?;
    }
    for line in crate::report::load::threshold_lines(report) {
        writeln!(out, "{line}")?;
    }
    if let Some(signal) = report.interrupted {
        writeln!(
            out,
            "stopped by {}: the report holds what ran",
            signal.name()
        )?;
    }
    if written {
        writeln!(out, "reports: {}", run_dir.join("load.html").display())?;
    }
    out.flush()
}
