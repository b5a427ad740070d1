//! Authorizer responses: what API Gateway would accept, how it evaluates a policy against a
//! method ARN (explicit Deny wins, no match is an implicit deny), and ARN building and IAM
//! wildcard matching.

use serde_json::Value;

/// `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/VERB/PATH`, split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodArn {
    /// Partition (`aws`).
    pub partition: String,
    /// Region.
    pub region: String,
    /// Account id.
    pub account: String,
    /// API id.
    pub api_id: String,
    /// Stage.
    pub stage: String,
    /// HTTP verb (or `*`).
    pub verb: String,
    /// Resource path without its leading `/` (may be empty for the root).
    pub path: String,
}

impl MethodArn {
    /// Parses a method or route ARN; `None` when it is not one.
    pub fn parse(arn: &str) -> Option<MethodArn> {
        let mut fields = arn.splitn(6, ':');
        let (arn_word, partition, service, region, account, rest) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        if arn_word != "arn" || service != "execute-api" {
            return None;
        }
        let mut segments = rest.splitn(4, '/');
        let api_id = segments.next()?.to_string();
        let stage = segments.next()?.to_string();
        let verb = segments.next()?.to_string();
        let path = segments.next().unwrap_or("").to_string();
        if api_id.is_empty() || stage.is_empty() || verb.is_empty() {
            return None;
        }
        Some(MethodArn {
            partition: partition.into(),
            region: region.into(),
            account: account.into(),
            api_id,
            stage,
            verb,
            path,
        })
    }

    /// The ARN of another method of the same API stage.
    pub fn with_route(&self, verb: &str, path: &str) -> MethodArn {
        MethodArn {
            verb: verb.to_string(),
            path: path.trim_start_matches('/').to_string(),
            ..self.clone()
        }
    }

    /// `arn:…:API/STAGE/*/*`: a Resource covering every method of the stage, which is what a
    /// cached policy must cover.
    pub fn stage_wildcard(&self) -> String {
        format!(
            "arn:{}:execute-api:{}:{}:{}/{}/*/*",
            self.partition, self.region, self.account, self.api_id, self.stage
        )
    }
}

impl std::fmt::Display for MethodArn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "arn:{}:execute-api:{}:{}:{}/{}/{}/{}",
            self.partition,
            self.region,
            self.account,
            self.api_id,
            self.stage,
            self.verb,
            self.path
        )
    }
}

/// IAM resource matching: `*` matches any run of characters (slashes and colons included),
/// `?` any one character; everything else is compared exactly.
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    // ASCII (every real ARN) is matched byte by byte, without allocating; anything else by
    // characters, so `?` stays one character.
    if pattern.is_ascii() && arn.is_ascii() {
        return glob(pattern.as_bytes(), arn.as_bytes(), b'*', b'?');
    }
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), arn.chars().collect());
    glob(&p, &s, '*', '?')
}

fn glob<T: PartialEq + Copy>(p: &[T], s: &[T], any: T, one: T) -> bool {
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == one || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == any {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == any {
        pi += 1;
    }
    pi == p.len()
}

/// The API flavour a response is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApiKind {
    /// REST API (TOKEN or REQUEST authorizer).
    Rest,
    /// HTTP API, payload 1.0.
    HttpV1,
    /// HTTP API, payload 2.0, IAM policy responses.
    HttpV2,
    /// HTTP API, payload 2.0, simple responses (`isAuthorized`).
    HttpV2Simple,
}

/// What API Gateway does with a response for a method ARN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// An Allow statement matches and no Deny does.
    Allow,
    /// A Deny statement matches (403 "explicit deny").
    ExplicitDeny,
    /// Nothing matches (403), or `isAuthorized` is false.
    ImplicitDeny,
}

/// The longest Resource ARN a policy statement may hold ("currently limited to 512
/// characters", Lambda authorizer output doc; reference §2.2).
pub const MAX_RESOURCE: usize = 512;

/// A response API Gateway would refuse (it answers 500), with what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Checks a response the way API Gateway reads it, and evaluates it against `arn`.
pub fn evaluate(response: &Value, api: ApiKind, arn: &str) -> Result<Decision, Refused> {
    let refuse = |m: &str| Err(Refused(m.to_string()));
    let Some(obj) = response.as_object() else {
        return refuse("the response is not a JSON object");
    };
    if api == ApiKind::HttpV2Simple {
        return match obj.get("isAuthorized") {
            Some(Value::Bool(true)) => Ok(Decision::Allow),
            Some(Value::Bool(false)) => Ok(Decision::ImplicitDeny),
            _ => refuse("isAuthorized is missing or not a boolean"),
        };
    }
    match obj.get("principalId") {
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(Value::String(_)) => return refuse("principalId is empty"),
        Some(_) => return refuse("principalId is not a string"),
        None if api == ApiKind::Rest => return refuse("principalId is missing"),
        None => {}
    }
    let Some(doc) = obj.get("policyDocument").and_then(Value::as_object) else {
        return refuse("policyDocument is missing or not an object");
    };
    if doc.get("Version").and_then(Value::as_str).is_none() {
        return refuse("policyDocument.Version is missing");
    }
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => return refuse("policyDocument.Statement is missing or empty"),
    };
    let mut allowed = false;
    for (i, st) in statements.iter().enumerate() {
        // A string, or a list of strings; an empty list names nothing (an Allow of
        // `"Resource": []` is an implicit deny on AWS: 403 after the authorizer succeeded, a
        // real capture in aws/chalice#971, reference §9 item 4).
        let strings = |key: &str| -> Result<Option<Vec<&str>>, Refused> {
            let bad = || {
                Refused(format!(
                    "Statement[{i}].{key} is not a string or list of strings"
                ))
            };
            match st.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(vec![s.as_str()])),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| v.as_str().ok_or_else(bad))
                    .collect::<Result<_, _>>()
                    .map(Some),
                _ => Err(bad()),
            }
        };
        // Standard IAM syntax (HTTP API authorizers use it; AWS's .NET events library added
        // NotResource for authorizer policies, aws-lambda-dotnet#2165): exactly one of
        // Action / NotAction and of Resource / NotResource; the Not form matches everything
        // it does not list (reference §9 item 7).
        let one_of = |key: &str, not: &str| -> Result<(Vec<&str>, bool), Refused> {
            match (strings(key)?, strings(not)?) {
                (Some(v), None) => Ok((v, false)),
                (None, Some(v)) => Ok((v, true)),
                (None, None) => Err(Refused(format!(
                    "Statement[{i}] has neither {key} nor {not}"
                ))),
                (Some(_), Some(_)) => {
                    Err(Refused(format!("Statement[{i}] has both {key} and {not}")))
                }
            }
        };
        let (actions, not_action) = one_of("Action", "NotAction")?;
        let (resources, not_resource) = one_of("Resource", "NotResource")?;
        if let Some(bad) = resources
            .iter()
            .find(|r| **r != "*" && !r.starts_with("arn:"))
        {
            return refuse(&format!("Statement[{i}].Resource `{bad}` is not an ARN"));
        }
        // "The Resource ARN ... is currently limited to 512 characters" (output doc). What
        // API Gateway does past it is not documented; refusing the whole policy is the answer
        // that cannot open anything, where skipping the statement could skip a Deny.
        if let Some(long) = resources.iter().find(|r| r.chars().count() > MAX_RESOURCE) {
            return refuse(&format!(
                "Statement[{i}].Resource is {} characters; API Gateway takes at most {MAX_RESOURCE}",
                long.chars().count()
            ));
        }
        let effect = match st.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Decision::Allow,
            Some("Deny") => Decision::ExplicitDeny,
            _ => return refuse(&format!("Statement[{i}].Effect is not Allow or Deny")),
        };
        // "The prefix and the action name are case insensitive" (IAM JSON policy elements:
        // Action): `execute-api:invoke` is `execute-api:Invoke`.
        let acts = actions
            .iter()
            .any(|a| arn_matches(&a.to_ascii_lowercase(), "execute-api:invoke"))
            != not_action;
        let covers = resources.iter().any(|r| arn_matches(r, arn)) != not_resource;
        if !acts || !covers {
            continue;
        }
        // AWS does not document whether API Gateway evaluates a Condition. The conservative
        // reading: a conditioned Deny applies, a conditioned Allow grants nothing (it never
        // passes silently; `conditions` lets the caller report it).
        let conditioned = st.get("Condition").is_some();
        match effect {
            Decision::ExplicitDeny => return Ok(Decision::ExplicitDeny),
            _ if conditioned => {}
            _ => allowed = true,
        }
    }
    Ok(if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    })
}

/// The statements of a policy response that carry a `Condition`, which the emulator does not
/// evaluate (AWS does not document whether API Gateway does): `Statement[0] (Allow)` and the
/// like, for the caller to report. A conditioned Allow grants nothing in [`evaluate`].
pub fn conditions(response: &Value) -> Vec<String> {
    let statements = match response.pointer("/policyDocument/Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    };
    statements
        .iter()
        .enumerate()
        .filter(|(_, st)| st.get("Condition").is_some())
        .map(|(i, st)| {
            let effect = st.get("Effect").and_then(Value::as_str).unwrap_or("?");
            format!("Statement[{i}] ({effect})")
        })
        .collect()
}

/// Context values that are not strings, numbers or booleans (REST APIs refuse them).
pub fn non_primitive_context(response: &Value) -> Vec<String> {
    response
        .get("context")
        .and_then(Value::as_object)
        .map(|ctx| {
            ctx.iter()
                .filter(|(_, v)| v.is_object() || v.is_array())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/hello";

    fn policy(effect: &str, resource: Value) -> Value {
        json!({"principalId": "u", "policyDocument": {"Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]}})
    }

    #[test]
    fn iam_details_are_read_as_iam_reads_them() {
        let with = |statement: Value| {
            json!({"principalId": "u", "policyDocument": {"Version": "2012-10-17",
                "Statement": [statement]}})
        };
        let other = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/items";
        let rows: Vec<(&str, Value, Result<Decision, ()>)> = vec![
            // IAM JSON policy elements, Action: "the action name [is] case insensitive".
            (
                "lower-case action",
                json!({"Action": "execute-api:invoke", "Effect": "Allow", "Resource": ARN}),
                Ok(Decision::Allow),
            ),
            (
                "upper-case action",
                json!({"Action": "EXECUTE-API:INVOKE", "Effect": "Allow", "Resource": ARN}),
                Ok(Decision::Allow),
            ),
            // aws/chalice#971 (a real capture): an Allow of no resource is a 403.
            (
                "empty Resource",
                json!({"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": []}),
                Ok(Decision::ImplicitDeny),
            ),
            // Standard IAM NotResource / NotAction.
            (
                "NotResource elsewhere",
                json!({"Action": "execute-api:Invoke", "Effect": "Allow", "NotResource": other}),
                Ok(Decision::Allow),
            ),
            (
                "NotResource here",
                json!({"Action": "execute-api:Invoke", "Effect": "Allow", "NotResource": [ARN]}),
                Ok(Decision::ImplicitDeny),
            ),
            (
                "NotAction another",
                json!({"NotAction": "execute-api:ManageConnections", "Effect": "Allow", "Resource": "*"}),
                Ok(Decision::Allow),
            ),
            (
                "NotAction invoke",
                json!({"NotAction": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}),
                Ok(Decision::ImplicitDeny),
            ),
            (
                "both forms",
                json!({"Action": "execute-api:Invoke", "NotAction": "x:y", "Effect": "Allow", "Resource": "*"}),
                Err(()),
            ),
            (
                "neither form",
                json!({"Effect": "Allow", "Resource": "*"}),
                Err(()),
            ),
            // Undocumented: a Condition is never taken as met.
            (
                "conditioned Allow",
                json!({"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ARN, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}),
                Ok(Decision::ImplicitDeny),
            ),
            (
                "conditioned Deny",
                json!({"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": ARN, "Condition": {"Bool": {"x": "true"}}}),
                Ok(Decision::ExplicitDeny),
            ),
        ];
        for (what, statement, want) in rows {
            let got = evaluate(&with(statement), ApiKind::Rest, ARN).map_err(|_| ());
            assert_eq!(got, want, "{what}");
        }
        let conditioned = with(json!({"Action": "execute-api:Invoke", "Effect": "Allow",
            "Resource": ARN, "Condition": {}}));
        assert_eq!(conditions(&conditioned), ["Statement[0] (Allow)"]);
    }

    #[test]
    fn wildcards_span_slashes_and_question_marks_one_character() {
        assert!(arn_matches(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/*",
            ARN
        ));
        assert!(arn_matches("arn:aws:execute-api:*:*:abc123/*", ARN));
        assert!(arn_matches(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/hell?",
            ARN
        ));
        assert!(!arn_matches(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/*",
            ARN
        ));
        assert!(!arn_matches(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/test/*",
            ARN
        ));
    }

    #[test]
    fn a_method_arn_round_trips_and_gives_its_stage_wildcard() {
        let arn = MethodArn::parse(ARN).unwrap();
        assert_eq!(arn.to_string(), ARN);
        assert_eq!(
            arn.stage_wildcard(),
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/*"
        );
        assert_eq!(
            arn.with_route("POST", "/items/1")
                .to_string()
                .rsplit_once("prod/")
                .unwrap()
                .1,
            "POST/items/1"
        );
        assert!(MethodArn::parse("arn:aws:lambda:us-east-1:1:function:x").is_none());
    }

    #[test]
    fn an_explicit_deny_wins_over_an_allow() {
        let mut p = policy("Allow", json!("*"));
        p["policyDocument"]["Statement"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": ARN}));
        assert_eq!(evaluate(&p, ApiKind::Rest, ARN), Ok(Decision::ExplicitDeny));
    }

    #[test]
    fn a_policy_for_another_method_is_an_implicit_deny() {
        let other = ARN.replace("GET/hello", "GET/other");
        assert_eq!(
            evaluate(&policy("Allow", json!(other)), ApiKind::Rest, ARN),
            Ok(Decision::ImplicitDeny)
        );
        assert_eq!(
            evaluate(&policy("Allow", json!([ARN])), ApiKind::Rest, ARN),
            Ok(Decision::Allow)
        );
    }

    #[test]
    fn malformed_responses_are_refused_with_the_reason() {
        let mut p = policy("Allow", json!(ARN));
        p["principalId"] = json!(42);
        assert!(
            evaluate(&p, ApiKind::Rest, ARN)
                .unwrap_err()
                .0
                .contains("principalId")
        );
        assert!(evaluate(&policy("allow", json!(ARN)), ApiKind::Rest, ARN).is_err());
        assert!(evaluate(&json!({"statusCode": 401}), ApiKind::Rest, ARN).is_err());
        assert!(
            evaluate(
                &policy("Allow", json!("prod/GET/hello")),
                ApiKind::Rest,
                ARN
            )
            .is_err()
        );
        assert_eq!(
            evaluate(&json!({"isAuthorized": false}), ApiKind::HttpV2Simple, ARN),
            Ok(Decision::ImplicitDeny)
        );
    }
}
