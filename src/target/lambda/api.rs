//! The Runtime API (2018-06-01) a `lambda:` environment's child talks to: `next` hands it
//! the queued invocation (and, for a call that observes it, settles the one before), and
//! `response`, `error` and `init/error` take its answers.

use super::*;

pub(super) fn trace_id() -> String {
    let mut b = [0u8; 20];
    aws_lc_rs::rand::fill(&mut b).expect("system randomness");
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "Root=1-{secs:08x}-{};Parent={};Sampled=0",
        &hex[..24],
        &hex[24..40]
    )
}

pub(super) type Ctx = State<(Arc<Env>, Arc<Shared>)>;

pub(super) async fn next(State((env, shared)): Ctx) -> Response {
    let (generation, first_poll) = {
        let mut s = env.state.lock().expect("lock");
        let first_poll = !s.ready;
        if first_poll {
            s.ready = true;
            if let Some(at) = s.spawned_at {
                shared
                    .stats
                    .lock()
                    .expect("lock")
                    .cold_starts_ms
                    .push(at.elapsed().as_secs_f64() * 1e3);
            }
        }
        (s.generation, first_poll)
    };
    if first_poll {
        // Wakes `wait_ready`.
        env.changed.send_modify(|_| {});
    }
    // A runtime that polls again without answering has abandoned its invocation.
    let abandoned = {
        let mut s = env.state.lock().expect("lock");
        if let Some(settling) = s.settling.take() {
            let _ = settling.tx.send(Settled::Ready {
                error_after: settling.error_after,
                streams: env.streams.clone(),
            });
        }
        match s.in_flight.take() {
            Some(f) => Some((f, std::mem::replace(&mut s.cold, false))),
            None => None,
        }
    };
    if let Some((flight, cold)) = abandoned {
        flight.watchdog.abort();
        let _ = flight.reply.send((
            Err(TargetError::Crashed {
                status: "asked for the next invocation without answering this one".into(),
                stderr_tail: env.tail(),
            }),
            cold,
        ));
    }
    let mut changed = env.changed.subscribe();
    let job = {
        let mut queue = shared.queue.lock().await;
        loop {
            let job = tokio::select! {
                job = queue.recv() => job,
                _ = async { while changed.changed().await.is_ok() {
                    if env.state.lock().expect("lock").generation != generation { break; }
                } } => None,
            };
            // Skip jobs whose caller has given up waiting.
            match job {
                Some(j) if j.reply.is_closed() => continue,
                other => break other,
            }
        }
    };
    let Some(job) = job else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let timeout = shared.options.timeout;
    {
        let mut s = env.state.lock().expect("lock");
        if s.generation != generation || !s.alive {
            drop(s);
            let _ = shared.jobs.send(job);
            return StatusCode::GONE.into_response();
        }
        // Replaces the environment if the answer does not come in time; aborted when it does.
        let watched = env.clone();
        let (id, stats_shared) = (job.request_id.clone(), shared.clone());
        let watchdog = tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let flight = {
                let mut s = watched.state.lock().expect("lock");
                match &s.in_flight {
                    Some(f) if f.request_id == id => {
                        let cold = std::mem::replace(&mut s.cold, false);
                        s.in_flight.take().map(|f| (f, cold))
                    }
                    _ => None,
                }
            };
            if let Some((flight, cold)) = flight {
                let _ = flight
                    .reply
                    .send((Err(TargetError::Timeout(timeout)), cold));
                stats_shared.stats.lock().expect("lock").replaced += 1;
                kill(&watched);
            }
        });
        env.streams.sink.direct(job.output);
        s.in_flight = Some(InFlight {
            request_id: job.request_id.clone(),
            reply: job.reply,
            watchdog: watchdog.abort_handle(),
            settled: job.settled,
        });
    }
    let deadline = SystemTime::now()
        .checked_add(timeout)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    let mut headers = HeaderMap::new();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    put("lambda-runtime-aws-request-id", job.request_id);
    put("lambda-runtime-deadline-ms", deadline.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        shared.function_arn.clone(),
    );
    put("lambda-runtime-trace-id", trace_id());
    put("content-type", "application/json".into());
    (StatusCode::OK, headers, job.event.to_string()).into_response()
}

pub(super) fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

/// The invocation `id` answered: out of flight, and settling if its call observes it.
pub(super) fn take_flight(env: &Env, id: &str) -> Option<(InFlight, bool)> {
    let mut s = env.state.lock().expect("lock");
    match &s.in_flight {
        Some(f) if f.request_id == id => {
            let cold = std::mem::replace(&mut s.cold, false);
            let mut flight = s.in_flight.take()?;
            flight.watchdog.abort();
            if let Some(tx) = flight.settled.take() {
                s.settling = Some(Settling {
                    request_id: id.to_string(),
                    tx,
                    error_after: None,
                });
            }
            Some((flight, cold))
        }
        _ => None,
    }
}

/// Records an error the runtime reports for an invocation it has already answered.
pub(super) fn error_after_answer(env: &Env, id: &str, error: String) {
    let mut s = env.state.lock().expect("lock");
    if let Some(settling) = s.settling.as_mut()
        && settling.request_id == id
    {
        settling.error_after.get_or_insert(error);
    }
}

pub(super) fn unknown_request(id: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"errorMessage": format!("no invocation {id} is in flight"), "errorType": "InvalidRequestID"})),
    )
        .into_response()
}

pub(super) async fn response(
    State((env, shared)): Ctx,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let body = crate::bounded::body(req.into_body(), MAX_RESPONSE).await;
    let Some((flight, cold)) = take_flight(&env, &id) else {
        return unknown_request(&id);
    };
    let reply = match body {
        Ok(bytes) => read_invoke_answer(false, &bytes).map(|r| match r {
            // A returned document that merely looks like an error is still a return value.
            Reply::FunctionError { .. } => {
                Reply::Response(serde_json::from_slice(&bytes).unwrap_or_default())
            }
            other => other,
        }),
        Err(_) => Err(TargetError::Oversized(MAX_RESPONSE + 1)),
    };
    let too_big = matches!(reply, Err(TargetError::Oversized(_)));
    shared.stats.lock().expect("lock").invocations += 1;
    let _ = flight.reply.send((reply, cold));
    if too_big {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(
                json!({"errorMessage": "response too large", "errorType": "RequestEntityTooLarge"}),
            ),
        )
            .into_response();
    }
    accepted()
}

/// An error report of at most [`MAX_ERROR_REPORT`] bytes; a larger one is replaced by a
/// report that says so.
pub(super) async fn error_report(req: Request) -> Bytes {
    match crate::bounded::body(req.into_body(), MAX_ERROR_REPORT).await {
        Ok(body) => body,
        Err(e) => Bytes::from(
            json!({"errorType": "ErrorReportTooLarge", "errorMessage": format!("the error report is {e}")})
                .to_string(),
        ),
    }
}

pub(super) async fn invocation_error(
    State((env, shared)): Ctx,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let headers = req.headers().clone();
    let body = error_report(req).await;
    let header_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let reply = function_error(&body, header_type);
    let Some((flight, cold)) = take_flight(&env, &id) else {
        if let Reply::FunctionError {
            error_type,
            message,
            stack,
        } = &reply
        {
            error_after_answer(
                &env,
                &id,
                crate::target::crash::describe(error_type, message, stack),
            );
        }
        return unknown_request(&id);
    };
    shared.stats.lock().expect("lock").invocations += 1;
    let _ = flight.reply.send((Ok(reply), cold));
    accepted()
}

/// An error report as a reply: its type (from the report, else the header), message and
/// stack.
pub(super) fn function_error(body: &[u8], header_type: Option<String>) -> Reply {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Reply::FunctionError {
            error_type: v
                .get("errorType")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or(header_type)
                .unwrap_or_else(|| "Unhandled".into()),
            message: v
                .get("errorMessage")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            stack: crate::target::crash::stack_of(&v),
        },
        Err(_) => Reply::FunctionError {
            error_type: header_type.unwrap_or_else(|| "Unhandled".into()),
            message: String::from_utf8_lossy(body).chars().take(300).collect(),
            stack: Vec::new(),
        },
    }
}

pub(super) async fn init_error(State((env, _)): Ctx, req: Request) -> Response {
    let body = error_report(req).await;
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .map(|v| {
            let t = v
                .get("errorType")
                .and_then(Value::as_str)
                .unwrap_or("InitError");
            let m = v.get("errorMessage").and_then(Value::as_str).unwrap_or("");
            format!(
                "{}: {}",
                crate::bounded::clip(t, 100),
                crate::bounded::clip(m, 500)
            )
        })
        .unwrap_or_else(|| crate::bounded::clip(&String::from_utf8_lossy(&body), 500).into_owned());
    env.state.lock().expect("lock").init_error = Some(message);
    accepted()
}
