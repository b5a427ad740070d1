//! A profile's authorization matrix: who may call what. Each `[[matrix.principal]]` is a name,
//! the claims that make its good token differ from the profile's (`cognito:groups`, `scope`,
//! `scp`, any custom claim), optionally another token kind (a Cognito ID token), and the routes
//! it may call (`allow`) and may not (`deny`), `*` standing for every route:
//!
//! ```toml
//! [[matrix.principal]]
//! name = "reader"
//! claims = { "cognito:groups" = ["readers"] }
//! allow = ["GET /items"]             # every other route: deny
//!
//! [[matrix.principal]]
//! name = "admin"
//! claims = { "cognito:groups" = ["readers", "admins"] }
//! allow = ["*"]
//! ```

use serde::Deserialize;
use serde_json::{Map, Value};
use toml::Spanned;

use super::Route;
use crate::tokens::Kind;

/// `[matrix]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMatrix {
    principal: Spanned<Vec<RawPrincipal>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrincipal {
    name: Spanned<String>,
    #[serde(default)]
    claims: toml::Table,
    kind: Option<Spanned<String>>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    #[serde(default)]
    deny: Vec<Spanned<String>>,
}

/// The most principals a matrix may name: each is sent to every route three times.
pub const MAX_PRINCIPALS: usize = 32;

/// A checked matrix over the profile's routes.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixSpec {
    /// The principals, in the file's order.
    pub principals: Vec<Principal>,
}

/// One principal: how its token differs from the good token, and what it may call.
#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    /// Its name.
    pub name: String,
    /// Claims set on its token (they replace the good token's).
    pub claims: Map<String, Value>,
    /// Its token kind, when not the profile's good token (a Cognito ID token).
    pub kind: Option<Kind>,
    /// Per route of the profile, in order: whether it may call it.
    pub allowed: Vec<bool>,
}

impl Principal {
    /// Its claims in one line: `cognito:groups=["readers","admins"]`.
    pub fn claims_line(&self) -> String {
        let mut parts: Vec<String> = self
            .claims
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if let Some(kind) = self.kind {
            parts.push(format!("kind {}", kind.name()));
        }
        if parts.is_empty() {
            "the good token's claims".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// The name a cell's policy snapshot is kept under: `matrix.PRINCIPAL.ROUTE`, each part with
/// every character but letters, digits and `-` written as `_XX` (hex), so that no two cells
/// share a file and no name leaves the snapshot folder (`GET /items` is `GET_20_2Fitems`).
pub fn cell_key(principal: &str, route: &str) -> String {
    let escape = |text: &str| {
        let mut out = String::with_capacity(text.len());
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() || b == b'-' {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("_{b:02X}"));
            }
        }
        out
    };
    format!("matrix.{}.{}", escape(principal), escape(route))
}

/// The built-in profile `text` with a starter matrix in place of its commented example: a
/// reader that may call the first route and an admin that may call all of them, told apart by
/// the claim such authorizers usually read (`cognito:groups` on Cognito, `scope` elsewhere).
/// None for the static profile, whose tokens carry no claims.
pub fn starter(profile: crate::tokens::Profile, text: &str) -> Option<String> {
    use crate::tokens::Profile;
    let (reader, admin) = match profile {
        Profile::Static => return None,
        Profile::Cognito => (
            r#"{ "cognito:groups" = ["readers"] }"#,
            r#"{ "cognito:groups" = ["admins"] }"#,
        ),
        Profile::Jwks | Profile::Hs256 => {
            (r#"{ scope = "read" }"#, r#"{ scope = "read write admin" }"#)
        }
    };
    let raw: toml::Table = toml::from_str(text).ok()?;
    let first = raw
        .get("api")
        .and_then(|a| a.get("routes"))
        .and_then(|r| r.as_array())
        .and_then(|r| r.first())
        .and_then(|r| r.as_str())
        .unwrap_or("GET /hello")
        .to_string();
    let kept = text
        .split_once("\n# Who may call what:")
        .map_or(text, |(before, _)| before);
    Some(format!(
        "{}\n\n# Who may call what (README, \"Authorization matrix\"): name your principals, the claims that\n# tell them apart, and the routes of [api] each may call; every other route is denied.\n[[matrix.principal]]\nname = \"reader\"\nclaims = {reader}\nallow = [\"{first}\"]\n\n[[matrix.principal]]\nname = \"admin\"\nclaims = {admin}\nallow = [\"*\"]\n",
        kept.trim_end()
    ))
}

/// Claims written in TOML, as the JSON a token carries.
pub(super) fn json_claims(table: &toml::Table) -> Map<String, Value> {
    table
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(Value::Null)))
        .collect()
}

/// Checks `raw` against the profile's `routes`; errors carry the span they are about.
pub(super) fn check(
    raw: &RawMatrix,
    routes: &[Route],
) -> Result<MatrixSpec, (std::ops::Range<usize>, String)> {
    let list = raw.principal.get_ref();
    if list.is_empty() {
        return Err((
            raw.principal.span(),
            "[matrix] names no principal: add a [[matrix.principal]] with a name, its claims and the routes it may call".into(),
        ));
    }
    if list.len() > MAX_PRINCIPALS {
        return Err((
            raw.principal.span(),
            format!(
                "[matrix] names {} principals; at most {MAX_PRINCIPALS}",
                list.len()
            ),
        ));
    }
    let route_names: Vec<String> = routes.iter().map(Route::to_string).collect();
    let mut principals: Vec<Principal> = Vec::new();
    for p in list {
        let name = p.name.get_ref().trim();
        if name.is_empty() || name.len() > 40 || name.contains(char::is_control) {
            return Err((
                p.name.span(),
                "a principal's name is 1 to 40 printable characters".into(),
            ));
        }
        if principals.iter().any(|q| q.name == name) {
            return Err((p.name.span(), format!("principal `{name}` is named twice")));
        }
        let kind = match &p.kind {
            None => None,
            Some(k) => Some(Kind::from_name(k.get_ref()).ok_or_else(|| {
                (
                    k.span(),
                    format!(
                        "unknown token kind `{}` (`authprobe token list` shows them)",
                        k.get_ref()
                    ),
                )
            })?),
        };
        // `*` in allow: every route unless denied; otherwise only the routes allowed.
        let mut allowed = vec![false; routes.len()];
        let mut said: Vec<Option<bool>> = vec![None; routes.len()];
        for (list, value) in [(&p.allow, true), (&p.deny, false)] {
            for route in list {
                let text = route.get_ref().trim();
                if text == "*" {
                    for (slot, said) in allowed.iter_mut().zip(&said) {
                        if said.is_none() {
                            *slot = value;
                        }
                    }
                    continue;
                }
                let normal = match text.split_once(' ') {
                    Some((m, path)) => format!("{} {}", m.to_ascii_uppercase(), path.trim()),
                    None => text.to_string(),
                };
                let Some(i) = route_names.iter().position(|r| *r == normal) else {
                    return Err((
                        route.span(),
                        format!(
                            "principal `{name}`: `{text}` is not one of the profile's routes ({}); add it to [api] routes",
                            route_names.join(", ")
                        ),
                    ));
                };
                if said[i] == Some(!value) {
                    return Err((
                        route.span(),
                        format!("principal `{name}`: `{text}` is both allowed and denied"),
                    ));
                }
                said[i] = Some(value);
                allowed[i] = value;
            }
        }
        // A `*` in deny after explicit allows keeps them: apply explicit choices last.
        for (slot, said) in allowed.iter_mut().zip(&said) {
            if let Some(value) = said {
                *slot = *value;
            }
        }
        let claims = json_claims(&p.claims);
        principals.push(Principal {
            name: name.to_string(),
            claims,
            kind,
            allowed,
        });
    }
    Ok(MatrixSpec { principals })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Vec<Route> {
        ["GET /items", "DELETE /items", "GET /admin"]
            .iter()
            .map(|r| {
                let (m, p) = r.split_once(' ').unwrap();
                Route {
                    method: m.into(),
                    path: p.into(),
                }
            })
            .collect()
    }

    fn parse(text: &str) -> Result<MatrixSpec, String> {
        #[derive(Deserialize)]
        struct Doc {
            matrix: RawMatrix,
        }
        let doc: Doc = toml::from_str(text).map_err(|e| e.to_string())?;
        check(&doc.matrix, &routes()).map_err(|(_, m)| m)
    }

    #[test]
    fn every_starter_matrix_parses_over_its_profiles_routes() {
        use crate::tokens::Profile;
        for (name, text) in crate::conform::profile::BUILTIN {
            let profile = <Profile as clap::ValueEnum>::from_str(name, true).unwrap();
            let Some(text) = starter(profile, text) else {
                assert_eq!(profile, Profile::Static);
                continue;
            };
            let spec = crate::conform::profile::parse(&text, name).unwrap();
            let m = spec.matrix.unwrap_or_else(|| panic!("{name}: no matrix"));
            assert_eq!(m.principals.len(), 2, "{name}");
            assert!(m.principals[0].allowed[0], "{name}");
            assert!(m.principals[1].allowed.iter().all(|a| *a), "{name}");
        }
    }

    #[test]
    fn cell_keys_are_file_names_that_no_two_cells_share() {
        assert_eq!(
            cell_key("reader", "GET /items"),
            "matrix.reader.GET_20_2Fitems"
        );
        assert_ne!(cell_key("a b", "GET /x"), cell_key("a-b", "GET /x"));
        assert_ne!(cell_key("r", "GET /a_b"), cell_key("r", "GET /a/b"));
        assert!(!cell_key("../..", "GET /../x").contains('/'));
    }

    #[test]
    fn allow_deny_and_star_make_a_whole_row() {
        let m = parse(
            r#"
            [[matrix.principal]]
            name = "reader"
            claims = { "cognito:groups" = ["readers"] }
            allow = ["get /items"]
            [[matrix.principal]]
            name = "admin"
            claims = { "cognito:groups" = ["readers", "admins"] }
            allow = ["*"]
            deny = ["DELETE /items"]
            "#,
        )
        .unwrap();
        assert_eq!(m.principals[0].allowed, [true, false, false]);
        assert_eq!(m.principals[1].allowed, [true, false, true]);
        assert_eq!(
            m.principals[0].claims_line(),
            r#"cognito:groups=["readers"]"#
        );
    }

    #[test]
    fn a_route_the_profile_lacks_or_a_contradiction_is_refused_by_name() {
        let e = parse("[[matrix.principal]]\nname = \"r\"\nallow = [\"PUT /x\"]").unwrap_err();
        assert!(
            e.contains("`PUT /x` is not one of the profile's routes"),
            "{e}"
        );
        let e = parse(
            "[[matrix.principal]]\nname = \"r\"\nallow = [\"GET /items\"]\ndeny = [\"GET /items\"]",
        )
        .unwrap_err();
        assert!(e.contains("both allowed and denied"), "{e}");
        let e = parse("[[matrix.principal]]\nname = \"r\"\n[[matrix.principal]]\nname = \"r\"")
            .unwrap_err();
        assert!(e.contains("named twice"), "{e}");
    }
}
