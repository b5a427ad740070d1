//! The authorization matrix: each principal of the profile's `[matrix]` calls every route
//! through the gateway emulator three times, each time on a fresh result cache: with caching
//! on, routes from the most privileged (the fewest principals may call it) to the least, then
//! the reverse, and once with TTL 0. With caching on, the policy of the first route a token
//! calls answers every later one, so a policy that allows more than its route over-grants and
//! one that allows exactly its method ARN under-grants; TTL 0 shows the authorizer's own
//! decision apart from the cache's effect.
//!
//! Each cell (principal × route) becomes a case of the run, judged and grouped by cause like
//! every other: over-grant (security), under-grant (availability), cache-dependent (security
//! when it over-grants, contract when it under-grants). [`MatrixReport`] keeps the grid the
//! reports draw.

use super::profile::Route;
use super::profile::matrix::{MatrixSpec, Principal};
use super::runner::{Runner, Sent, status_of};
use super::verdict::{Finding, Severity};
use super::*;

/// One pass over every principal and route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pass {
    /// Caching on, the most privileged route first.
    MostPrivilegedFirst,
    /// Caching on, the least privileged route first.
    LeastPrivilegedFirst,
    /// TTL 0: every request asks the authorizer.
    Uncached,
}

impl Pass {
    const ALL: [Pass; 3] = [
        Pass::MostPrivilegedFirst,
        Pass::LeastPrivilegedFirst,
        Pass::Uncached,
    ];

    /// In words.
    pub fn words(self) -> &'static str {
        match self {
            Pass::MostPrivilegedFirst => "cached, most privileged route first",
            Pass::LeastPrivilegedFirst => "cached, least privileged route first",
            Pass::Uncached => "TTL 0",
        }
    }
}

/// What one request of a pass got.
#[derive(Clone, Debug, Serialize)]
pub struct Seen {
    /// The HTTP status (none: could not ask).
    pub status: Option<u16>,
    /// Whether the answer came from the result cache.
    pub cached: bool,
    /// The route whose policy answered it, when it was cached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_from: Option<String>,
}

impl Seen {
    fn allowed(&self) -> Option<bool> {
        match self.status? {
            200..=299 => Some(true),
            401 | 403 => Some(false),
            _ => None,
        }
    }

    /// `allow`, `deny`, `401`, `error`, as the grid shows it.
    pub fn mark(&self) -> &'static str {
        match self.status {
            Some(200..=299) => "allow",
            Some(403) => "deny",
            Some(401) => "401",
            _ => "error",
        }
    }
}

/// The grid the reports draw: expected and observed per principal and route.
#[derive(Clone, Debug, Serialize)]
pub struct MatrixReport {
    /// The routes, in the profile's order (the columns).
    pub routes: Vec<String>,
    /// The principals (the rows).
    pub principals: Vec<MatrixRow>,
    /// The TTL of the cached passes, seconds.
    pub cache_ttl: u64,
}

/// One principal's row.
#[derive(Clone, Debug, Serialize)]
pub struct MatrixRow {
    /// Its name.
    pub name: String,
    /// How its token differs from the good token.
    pub claims: String,
    /// Per route: whether it may call it.
    pub expected: Vec<bool>,
    /// Per pass, per route: what it got.
    pub observed: Vec<(Pass, Vec<Seen>)>,
}

impl MatrixRow {
    /// What the row got in `pass`.
    pub fn seen(&self, pass: Pass) -> &[Seen] {
        self.observed
            .iter()
            .find(|(p, _)| *p == pass)
            .map_or(&[], |(_, s)| s.as_slice())
    }
}

/// The order in which a cached pass calls the routes: the fewer principals may call a route,
/// the more privileged it is.
fn privilege_order(spec: &MatrixSpec, routes: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..routes).collect();
    order.sort_by_key(|&r| {
        spec.principals
            .iter()
            .filter(|p| p.allowed.get(r).copied().unwrap_or(false))
            .count()
    });
    order
}

/// The routes (by index) that `doc` allows and the principal may not call.
fn beyond(
    doc: &Value,
    api: crate::policy::ApiKind,
    arns: &[MethodArn],
    allowed: &[bool],
) -> Vec<usize> {
    arns.iter()
        .enumerate()
        .filter(|(r, arn)| {
            !allowed.get(*r).copied().unwrap_or(true)
                && crate::policy::evaluate(doc, api, &arn.to_string())
                    == Ok(crate::policy::Decision::Allow)
        })
        .map(|(r, _)| r)
        .collect()
}

/// The Resources of a policy's Allow statements, in one line.
fn allowed_resources(doc: Option<&Value>) -> String {
    let Some(statements) = doc.and_then(|d| d.pointer("/policyDocument/Statement")) else {
        return match doc.and_then(|d| d.get("isAuthorized")) {
            Some(v) => format!("isAuthorized: {v}"),
            None => "no policy".to_string(),
        };
    };
    let list: Vec<&Value> = match statements {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let resources: Vec<String> = list
        .iter()
        .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
        .flat_map(|s| match s.get("Resource") {
            Some(Value::Array(r)) => r
                .iter()
                .map(|v| v.as_str().unwrap_or("?").to_string())
                .collect(),
            Some(Value::String(r)) => vec![r.clone()],
            _ => Vec::new(),
        })
        .collect();
    if resources.is_empty() {
        "no Allow statement".to_string()
    } else {
        format!("Allow {}", resources.join(", "))
    }
}

impl Runner {
    /// Runs the matrix: every principal against every route in each [`Pass`]. Returns a case
    /// per cell and the grid.
    pub(super) async fn matrix(&self, spec: &MatrixSpec) -> (Vec<CaseResult>, MatrixReport) {
        let routes = &self.options.profile.routes;
        let route_names: Vec<String> = routes.iter().map(ToString::to_string).collect();
        let ttl = if self.cache_ttl > 0 {
            self.cache_ttl
        } else {
            crate::gateway::DEFAULT_TTL
        };
        let order = privilege_order(spec, routes.len());
        let mut rows = Vec::new();
        let mut cases = Vec::new();
        for principal in &spec.principals {
            // One token per principal: the cache keys on it.
            let token = self.principal_token(principal).await;
            let mut observed = Vec::new();
            let mut policies: Vec<Option<Value>> = vec![None; routes.len()];
            let mut elapsed = 0.0;
            let mut refused_mint = None;
            for pass in Pass::ALL {
                let (pass_ttl, sequence): (u64, Vec<usize>) = match pass {
                    Pass::MostPrivilegedFirst => (ttl, order.clone()),
                    Pass::LeastPrivilegedFirst => (ttl, order.iter().rev().copied().collect()),
                    Pass::Uncached => (0, (0..routes.len()).collect()),
                };
                let mut seen: Vec<Option<Seen>> = vec![None; routes.len()];
                let gateway = match Gateway::new(
                    GatewayConfig {
                        cache_ttl: pass_ttl,
                        ..self.gateway_config.clone()
                    },
                    self.harness.target.clone(),
                ) {
                    Ok(g) => g,
                    Err(e) => {
                        refused_mint = Some(format!("the gateway cannot be set up: {e}"));
                        break;
                    }
                };
                // The route whose policy the cache holds: the last one that asked the
                // authorizer and got a policy back.
                let mut cached_for: Option<usize> = None;
                let minted = match &token {
                    Ok(minted) => minted,
                    Err(why) => {
                        refused_mint = Some(why.clone());
                        break;
                    }
                };
                for &r in &sequence {
                    let request = self.principal_request(principal, minted, &routes[r]);
                    let sent = self.send_via(&gateway, request).await;
                    elapsed += sent.elapsed_ms;
                    let from = if sent.cached {
                        cached_for.map(|i| route_names[i].clone())
                    } else {
                        None
                    };
                    if !sent.cached && sent.response.is_some() {
                        cached_for = Some(r);
                    }
                    if pass == Pass::Uncached {
                        policies[r] = sent.response.clone();
                    }
                    seen[r] = Some(seen_of(&sent, from));
                }
                if refused_mint.is_some() {
                    break;
                }
                observed.push((pass, seen.into_iter().flatten().collect()));
            }
            let row = MatrixRow {
                name: principal.name.clone(),
                claims: principal.claims_line(),
                expected: principal.allowed.clone(),
                observed,
            };
            let first_cell = cases.len();
            for (r, route) in routes.iter().enumerate() {
                let cell = judge_cell(
                    principal,
                    &row,
                    r,
                    route,
                    &Policies {
                        names: &route_names,
                        uncached: &policies,
                        strict: self.options.strict,
                    },
                    refused_mint.as_deref(),
                    elapsed / routes.len().max(1) as f64,
                );
                cases.push(cell);
            }
            self.least_privilege(principal, &mut cases[first_cell..]);
            for (r, cell) in cases[first_cell..].iter_mut().enumerate() {
                self.snapshot_cell(cell, &row, r);
            }
            rows.push(row);
        }
        (
            cases,
            MatrixReport {
                routes: route_names,
                principals: rows,
                cache_ttl: ttl,
            },
        )
    }

    /// Least privilege: the policy a principal got (with TTL 0) for a route it may call must
    /// not allow routes it may not call. Where a cached pass already let such a route in, the
    /// over-grant is reported there (security); where no pass's order exposed it, the policy is
    /// reported here (hardening): the first caller to ask for that route first gets the rest.
    fn least_privilege(&self, principal: &Principal, cells: &mut [CaseResult]) {
        let api = self
            .options
            .profile
            .event
            .api(self.options.profile.simple_responses);
        let exposed: Vec<bool> = cells
            .iter()
            .map(|c| c.findings.iter().any(|f| f.severity == Severity::Security))
            .collect();
        for (r, cell) in cells.iter_mut().enumerate() {
            let (true, Some(doc)) = (principal.allowed[r], cell.response.as_ref()) else {
                continue;
            };
            let beyond: Vec<String> = beyond(doc, api, &self.route_arns, &principal.allowed)
                .into_iter()
                .filter(|other| !exposed[*other])
                .map(|other| self.options.profile.routes[other].to_string())
                .collect();
            if beyond.is_empty() {
                continue;
            }
            cell.findings.push(Finding {
                threat: None,
                severity: Severity::Hardening,
                message: format!(
                    "the policy principal `{}` ({}) gets also allows routes it may not call",
                    principal.name,
                    principal.claims_line()
                ),
                why: "with caching on, whoever calls this route first is then let into the others for the whole TTL; no order tried here happened to show it".into(),
                fix: "return a policy whose Resource lists exactly the routes the principal may call, or set the TTL to 0".into(),
            });
            cell.notes.push(format!(
                "its policy ({}) also allows {}",
                allowed_resources(Some(doc)),
                beyond.join(", ")
            ));
            cell.status = status_of(&cell.findings, false, self.options.strict);
        }
    }

    /// Keeps what the cell got in each pass, and the policy it got with TTL 0, as a policy
    /// snapshot: a change in who may call what is a regression like a changed policy.
    fn snapshot_cell(&self, cell: &mut CaseResult, row: &MatrixRow, r: usize) {
        let Some(snaps) = &self.options.snapshots else {
            return;
        };
        if cell.status == Status::Errored
            || self.good_refused.load(std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let mut seen = serde_json::Map::new();
        for pass in Pass::ALL {
            if let Some(s) = row.seen(pass).get(r) {
                seen.insert(
                    serde_json::to_value(pass)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    Value::from(s.mark()),
                );
            }
        }
        let document = serde_json::json!({
            "principal": row.name,
            "claims": row.claims,
            "route": cell.route,
            "may_call": row.expected[r],
            "got": seen,
            "policy_with_ttl_0": cell.response.clone().unwrap_or(Value::Null),
        });
        let key = super::profile::matrix::cell_key(&row.name, &cell.route);
        let status = snaps.check(&key, &document);
        cell.findings.extend(snaps.finding(&status));
        cell.snapshot = Some(status);
        cell.status = status_of(&cell.findings, false, self.options.strict);
    }

    /// The token of `principal`: the one given for it (`--principal-token-file`, `-cmd`),
    /// else the good token (or the principal's kind) minted with its claims; a key-less run
    /// cannot mint, and needs one given.
    async fn principal_token(
        &self,
        principal: &Principal,
    ) -> Result<crate::tokens::Minted, String> {
        if let Some((_, source)) = self
            .options
            .principal_tokens
            .iter()
            .find(|(name, _)| *name == principal.name)
        {
            let token = source
                .fetch()
                .await
                .map_err(|e| format!("principal `{}`: {e}", principal.name))?;
            // As a client sends it: `Bearer ` added unless the token carries its own scheme.
            let (scheme, credential) = match token.split_once(' ') {
                Some((s, rest)) if s.eq_ignore_ascii_case("bearer") => {
                    (crate::tokens::Scheme::Bearer, rest.trim().to_string())
                }
                _ => (crate::tokens::Scheme::Bearer, token),
            };
            return Ok(crate::tokens::Minted {
                kind: self.minter().good_kind(),
                credential,
                scheme,
            });
        }
        if self.harness.minter.is_keyless() {
            return Err(format!(
                "a key-less run cannot mint principal `{}`'s claims: give its real token with --principal-token-file {}=FILE or --principal-token-cmd {}=CMD",
                principal.name, principal.name, principal.name
            ));
        }
        let minter = self.minter().with_claims(&principal.claims);
        let kind = principal.kind.unwrap_or_else(|| minter.good_kind());
        minter
            .mint(kind)
            .map_err(|e| format!("principal `{}`: {e}", principal.name))
    }

    /// The request of `principal` with its token `minted` to `route`, in the run's header
    /// form.
    fn principal_request(
        &self,
        principal: &Principal,
        minted: &crate::tokens::Minted,
        route: &Route,
    ) -> crate::event::ClientRequest {
        let case = CaseSpec {
            name: principal.name.clone(),
            kind: CaseKind::Token(minted.kind),
            expect_allow: true,
            header: HeaderForm::AsMinted,
            route: route.clone(),
        };
        self.request(&case, self.header(&case, minted))
    }
}

fn seen_of(sent: &Sent, cached_from: Option<String>) -> Seen {
    Seen {
        status: if sent.could_not_ask {
            None
        } else {
            sent.http_status
        },
        cached: sent.cached,
        cached_from,
    }
}

/// What judging a cell needs besides the cell: the policy each route got with TTL 0 (by route
/// name), and whether contract findings fail the run (`--strict`).
struct Policies<'a> {
    names: &'a [String],
    uncached: &'a [Option<Value>],
    strict: bool,
}

impl Policies<'_> {
    fn of(&self, name: &str) -> Option<&Value> {
        let i = self.names.iter().position(|n| n == name)?;
        self.uncached.get(i)?.as_ref()
    }
}

/// The case of one cell: what the principal got on the route in each pass, judged against
/// what it may do.
fn judge_cell(
    principal: &Principal,
    row: &MatrixRow,
    r: usize,
    route: &Route,
    policies: &Policies<'_>,
    could_not_run: Option<&str>,
    elapsed_ms: f64,
) -> CaseResult {
    let policy = policies.uncached.get(r).cloned().flatten();
    let expected = principal.allowed[r];
    let claims = principal.claims_line();
    let mut result = CaseResult {
        name: format!("{} {}", principal.name, route),
        kind: "matrix".into(),
        stateful: true,
        what: format!("principal `{}` ({claims})", principal.name),
        route: route.to_string(),
        expected: if expected { "allow" } else { "reject" }.into(),
        reason: (!expected).then(|| format!("`{}` may not call {route}", principal.name)),
        observed: None,
        http_status: None,
        detail: String::new(),
        status: Status::Passed,
        findings: Vec::new(),
        response: policy.clone(),
        snapshot: None,
        elapsed_ms,
        wall_ms: elapsed_ms,
        cold: false,
        notes: Vec::new(),
        causes: Vec::new(),
        output: Default::default(),
    };
    if let Some(why) = could_not_run {
        result.status = Status::Errored;
        result.detail = why.to_string();
        return result;
    }
    let cell = |pass: Pass| row.seen(pass).get(r).cloned();
    let (Some(uncached), Some(first), Some(last)) = (
        cell(Pass::Uncached),
        cell(Pass::MostPrivilegedFirst),
        cell(Pass::LeastPrivilegedFirst),
    ) else {
        result.status = Status::Errored;
        result.detail = "not every pass ran".into();
        return result;
    };
    result.http_status = uncached.status;
    result.observed = match uncached.status {
        Some(200..=299) => Some(Outcome::Allow),
        Some(401) => Some(Outcome::Unauthorized),
        Some(403) => Some(Outcome::Deny),
        Some(_) => Some(Outcome::Error),
        None => None,
    };
    result.detail = Pass::ALL
        .iter()
        .zip([&first, &last, &uncached])
        .map(|(pass, seen)| {
            let from = seen
                .cached_from
                .as_ref()
                .map(|f| format!(" from the policy cached for {f}"))
                .unwrap_or_default();
            format!("{}: {}{from}", pass.words(), seen.mark())
        })
        .collect::<Vec<_>>()
        .join("; ");
    let (Some(u), Some(f), Some(l)) = (uncached.allowed(), first.allowed(), last.allowed()) else {
        result.status = Status::Errored;
        result.detail = format!("the authorizer failed: {}", result.detail);
        return result;
    };
    let who = format!("principal `{}` ({claims})", principal.name);
    let finding = |severity, message: String, why: &str, fix: &str| Finding {
        threat: None,
        severity,
        message,
        why: why.into(),
        fix: fix.into(),
    };
    if u != expected {
        result.findings.push(if u {
            finding(
                Severity::Security,
                format!("{who} is allowed routes it must not call (over-grant)"),
                "the authorizer's own decision, with no cache involved: whoever holds such a token calls routes its claims do not grant",
                "allow only the routes the principal's claims grant, and deny by default; build the policy's Resource from the claims",
            )
        } else {
            finding(
                Severity::Availability,
                format!("{who} is refused routes it may call (under-grant)"),
                "the claims grant the route but the authorizer refuses it, with no cache involved; a common cause is reading only the first group (`groups[0]`) or treating the space-separated `scope` string as a list",
                "check every group, split `scope` on spaces, and allow the route when any claim grants it",
            )
        });
    } else if f != expected || l != expected {
        let order = if f != expected {
            first.clone()
        } else {
            last.clone()
        };
        let from = order
            .cached_from
            .clone()
            .unwrap_or_else(|| "another route".into());
        result.notes.push(format!(
            "TTL 0 answers right; with caching on, after {from}, the cached policy ({}) answers {route}",
            allowed_resources(policies.of(&from))
        ));
        result.findings.push(if !expected {
            finding(
                Severity::Security,
                format!("with caching on, {who} is allowed routes it must not call after calling another route first (over-grant)"),
                "API Gateway evaluates every later route against the policy cached for the first one: a policy that allows more than the routes the principal may call over-grants for the whole TTL",
                "return a policy whose Resource lists exactly the routes the principal may call (never */* for a restricted principal), or set the TTL to 0",
            )
        } else {
            finding(
                Severity::Contract,
                format!("with caching on, {who} is refused routes it may call after calling another route first (cache-dependent)"),
                "the cached policy allows only the route asked first (its own method ARN): every other route the principal may call gets 403 until the cache expires",
                "return a policy that covers every route the principal may call (list them, or wildcard the method and path it may use), or set the TTL to 0",
            )
        });
    }
    result.status = status_of(&result.findings, false, policies.strict);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arn(method: &str, path: &str) -> MethodArn {
        let mut req = ClientRequest::get(path, None);
        req.method = method.into();
        req.method_arn(&Api::default())
    }

    fn allow(resources: &[&str]) -> Value {
        serde_json::json!({
            "principalId": "user",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resources}
            ]}
        })
    }

    #[test]
    fn a_policy_that_allows_a_route_beyond_the_principals_rights_is_found() {
        let arns = [
            arn("GET", "/items"),
            arn("DELETE", "/items"),
            arn("GET", "/admin"),
        ];
        let base = arns[0].to_string();
        let base = base.rsplit_once("/GET/").unwrap().0;
        let api = crate::policy::ApiKind::Rest;
        let reader = [true, false, false];
        // Every method of /items: DELETE too.
        let broad = allow(&[&format!("{base}/*/items")]);
        assert_eq!(beyond(&broad, api, &arns, &reader), [1]);
        // Exactly the routes it may call: nothing beyond.
        let exact = allow(&[&format!("{base}/GET/items")]);
        assert!(beyond(&exact, api, &arns, &reader).is_empty());
        // Everything, for an admin who may call everything: nothing beyond either.
        let all = allow(&[&format!("{base}/*/*")]);
        assert!(beyond(&all, api, &arns, &[true, true, true]).is_empty());
        assert_eq!(beyond(&all, api, &arns, &reader), [1, 2]);
    }
}
