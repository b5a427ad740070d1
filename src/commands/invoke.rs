//! `invoke`: one event to the target, its outcome and raw answer.

use super::*;

pub(super) async fn invoke(
    mut args: InvokeArgs,
    out: &mut (dyn Write + Send),
) -> Result<u8, Error> {
    check_target_args(&mut args.target)?;
    let kind = args.kind.as_deref().map(parse_kind).transpose()?;
    let profile = resolve_profile(args.profile, args.target.target.as_ref())?;
    let mut options = harness_options(profile, &args.target, &args.claims, args.simple_responses);
    options.idp = args.target.idp()?;
    options.observe = true;
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
    let mut answer = harness.target.call(&call).await;
    // The handler's output, with the token it was sent replaced.
    if let Some(header) = &request.authorization {
        let token = header
            .split_once(' ')
            .map_or(header.as_str(), |(_, t)| t.trim());
        answer.output = answer
            .output
            .redacted(&[(header.as_str(), "[token]"), (token, "[token]")]);
    }
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
            "output": answer.output,
            "after_answer": answer.after_answer,
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
pub(super) fn invoke_text(
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
    if !answer.output.is_empty() {
        writeln!(out, "output (what the handler printed)")?;
        for line in &answer.output.lines {
            let text = line.text.replace('\t', "  ");
            writeln!(
                out,
                "{:<6} | {}",
                line.stream.name(),
                crate::report::printable_line(&text)
            )?;
        }
    }
    if let Some(after) = &answer.after_answer {
        writeln!(out, "after     {}", crate::report::printable_line(after))?;
    }
    Ok(())
}
