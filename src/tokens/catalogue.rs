//! The catalogue of token kinds: what each one is, which profiles it applies to, and what a
//! correct authorizer must do with it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The four authorizer profiles of the tutorial this project grew from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The header must equal a fixed token.
    Static,
    /// HS256 JWT with a shared secret.
    Hs256,
    /// RS256 JWT verified against a JWKS, with `iss` and `aud` (Auth0/Okta style).
    Jwks,
    /// Cognito user-pool token (`token_use`, `client_id` or `aud`).
    Cognito,
}

impl Profile {
    /// Lower-case name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Static => "static",
            Profile::Hs256 => "hs256",
            Profile::Jwks => "jwks",
            Profile::Cognito => "cognito",
        }
    }

    /// True for the profiles whose tokens are RS256 signed and checked against a JWKS.
    pub fn signs_with_rsa(self) -> bool {
        matches!(self, Profile::Jwks | Profile::Cognito)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which Cognito token an authorizer requires.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum TokenUse {
    /// Access tokens: `token_use=access`, `client_id`, `scope`, no `aud`.
    #[default]
    Access,
    /// ID tokens: `token_use=id`, `aud`.
    Id,
}

impl std::fmt::Display for TokenUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenUse::Access => "access",
            TokenUse::Id => "id",
        })
    }
}

/// Why a correct authorizer rejects a token: each bad kind is bad for exactly one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// No credential in the header at all.
    MissingToken,
    /// The header value is not `Bearer <token>` (scheme, spacing).
    BadScheme,
    /// Not a compact JWS: part count, base64url, JSON, stray characters.
    Malformed,
    /// Longer than any real token; must be refused before parsing.
    Oversized,
    /// The `alg` is not on the authorizer's allow-list.
    AlgNotAllowed,
    /// The header names no `kid`.
    KidMissing,
    /// The `kid` is in no published key set.
    KidUnknown,
    /// The signing key is too small (under 2048 bits).
    WeakKey,
    /// The header carries its own key or a key URL (`jwk`, `jku`, `x5u`).
    UntrustedKeyHeader,
    /// The signature does not verify.
    BadSignature,
    /// The header lists a `crit` extension the verifier does not understand.
    UnknownCrit,
    /// `exp` is past (beyond the leeway).
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iat` is in the future.
    IssuedInFuture,
    /// A required claim is absent.
    MissingClaim,
    /// A claim has the wrong JSON type.
    ClaimType,
    /// `iss` is not the expected issuer, exactly.
    WrongIssuer,
    /// `aud` does not hold the expected audience.
    WrongAudience,
    /// Cognito `token_use` is not the required one.
    WrongTokenUse,
    /// Cognito `client_id` is not the expected client.
    WrongClientId,
    /// Not the static token.
    WrongStaticToken,
    /// A required scope is absent from `scope`.
    MissingScope,
    /// The key set could not be fetched, so nothing can be verified (fail closed).
    KeysUnavailable,
}

impl Reason {
    /// Kebab-case name, as in reports.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// Who can make a token of a bad kind, and so who can exploit an authorizer that lets such a
/// token in. The severity of a bad token allowed follows from it: `security` when someone not
/// entitled gets in with what they can get, `hardening` when only the trusted issuer could
/// have made the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Threat {
    /// No key and no token of the issuer is needed: `alg: none`, an attacker's own key, a
    /// signature removed or broken, a key URL in the header.
    Anyone,
    /// A token the issuer really signed, for something else: an expired one, one for another
    /// audience, app client or token use.
    Holder,
    /// Only the issuer could sign it: another algorithm by its key, no `exp`, a future `iat`.
    Issuer,
    /// Only the issuer could sign it, unless its key set is shared with other issuers
    /// (Google's and Firebase's are): then any of them can (`iss` checks).
    IssuerUnlessShared,
    /// A genuine signature by a published key under a wrong or missing `kid`: only the
    /// issuer's own tokens get in, but the `kid` is ignored.
    KidIgnored,
    /// A genuine, valid token written differently (padding, alphabet, an extra part, spacing):
    /// only its holder gets in, as they would anyway.
    Reshaped,
}

impl Threat {
    /// Whether a token of this kind lets in someone not entitled, given whether the issuer's
    /// keys are shared with other issuers.
    pub fn exploitable(self, shared_keys: bool) -> bool {
        match self {
            Threat::Anyone | Threat::Holder => true,
            Threat::IssuerUnlessShared => shared_keys,
            Threat::Issuer | Threat::KidIgnored | Threat::Reshaped => false,
        }
    }

    /// Who can exploit an authorizer that allows such a token, in one line.
    pub fn who(self, shared_keys: bool) -> &'static str {
        match self {
            Threat::Anyone => {
                "anyone can make such a token: no key and no token of the issuer is needed"
            }
            Threat::Holder => {
                "anyone holding a token the issuer signed for something else (an expired one, or one for another audience, app client or token use) gets in with it"
            }
            Threat::IssuerUnlessShared if shared_keys => {
                "the key set is shared with other issuers (shared_keys = true): a token any of them signs gets in"
            }
            Threat::IssuerUnlessShared => {
                "only a token signed by this issuer's own keys gets in, so only the issuer could exploit it (assuming its key set is its own; set shared_keys = true in the profile if other issuers share it, as Google's and Firebase's do)"
            }
            Threat::Issuer => {
                "only the trusted issuer could make such a token: no one else can exploit it, but the authorizer trusts more than it should"
            }
            Threat::KidIgnored => {
                "the signature is genuine, by a published key: only the issuer's tokens get in, but the kid is ignored, so a rotated-in or retired key is not handled as the issuer means (see key-rotation)"
            }
            Threat::Reshaped => {
                "the token inside is genuine and valid, only written differently: its holder gets nothing more than with the token itself, but the parser is laxer than the standard"
            }
        }
    }
}

/// What a correct authorizer does with a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "expect", content = "reason")]
pub enum Expect {
    /// Allow the request.
    Allow,
    /// Reject it (401), for this reason.
    Reject(Reason),
}

impl Expect {
    /// `allow` or `reject`.
    pub fn word(self) -> &'static str {
        match self {
            Expect::Allow => "allow",
            Expect::Reject(_) => "reject",
        }
    }
}

/// Groups of kinds, for listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Tokens a correct authorizer allows.
    Good,
    /// `exp`, `nbf`, `iat`.
    Time,
    /// `kid` and key selection.
    Keys,
    /// `alg` games.
    Algorithm,
    /// Broken signatures.
    Signature,
    /// Wrong or missing claims.
    Claims,
    /// Not a well-formed token or header.
    Format,
}

/// A claim with a JSON type it must not have: one kind of [`CLAIM_TYPES`] (claim type
/// confusion, the class of CVE-2026-25537). The good token with `claim` set to `value`, under
/// the issuer's signature, so it is bad in that one way.
#[derive(Debug)]
pub struct ClaimType {
    /// Its kind's name.
    pub name: &'static str,
    /// The claim it changes.
    pub claim: &'static str,
    /// The claim's value, as JSON.
    pub value: &'static str,
    /// What the token is.
    pub what: &'static str,
}

impl ClaimType {
    /// Why a correct authorizer refuses it: the type, except for an empty string where a
    /// string belongs, which is a wrong value (or, for `sub`, none).
    pub fn reason(&self) -> Reason {
        match (self.claim, self.value) {
            ("iss", EMPTY) => Reason::WrongIssuer,
            ("aud", EMPTY) => Reason::WrongAudience,
            ("sub", EMPTY) => Reason::MissingClaim,
            _ => Reason::ClaimType,
        }
    }
}

/// An empty JSON string.
const EMPTY: &str = r#""""#;

/// Every registered claim authprobe mints (RFC 7519 §4.1) with every JSON type it must not
/// have: null, true, false, 0, "", [] and {} (a NumericDate is a number, `iss` and `sub` are
/// strings, `aud` a string or an array of strings). Left out: the values that are valid
/// (`nbf` and `iat` of 0 are dates in 1970), kinds the catalogue has already (`aud-empty-array`)
/// and an `exp` of 0, which is a date, long past (`expired`).
pub const CLAIM_TYPES: &[ClaimType] = &[
    ClaimType {
        name: "exp-null",
        claim: "exp",
        value: r#"null"#,
        what: "exp as JSON null",
    },
    ClaimType {
        name: "exp-true",
        claim: "exp",
        value: r#"true"#,
        what: "exp as JSON true",
    },
    ClaimType {
        name: "exp-false",
        claim: "exp",
        value: r#"false"#,
        what: "exp as JSON false",
    },
    ClaimType {
        name: "exp-empty-string",
        claim: "exp",
        value: r#""""#,
        what: "exp as an empty string",
    },
    ClaimType {
        name: "exp-array",
        claim: "exp",
        value: r#"[]"#,
        what: "exp as an empty array",
    },
    ClaimType {
        name: "exp-object",
        claim: "exp",
        value: r#"{}"#,
        what: "exp as an empty object",
    },
    ClaimType {
        name: "nbf-null",
        claim: "nbf",
        value: r#"null"#,
        what: "nbf as JSON null",
    },
    ClaimType {
        name: "nbf-true",
        claim: "nbf",
        value: r#"true"#,
        what: "nbf as JSON true",
    },
    ClaimType {
        name: "nbf-false",
        claim: "nbf",
        value: r#"false"#,
        what: "nbf as JSON false",
    },
    ClaimType {
        name: "nbf-empty-string",
        claim: "nbf",
        value: r#""""#,
        what: "nbf as an empty string",
    },
    ClaimType {
        name: "nbf-array",
        claim: "nbf",
        value: r#"[]"#,
        what: "nbf as an empty array",
    },
    ClaimType {
        name: "nbf-object",
        claim: "nbf",
        value: r#"{}"#,
        what: "nbf as an empty object",
    },
    ClaimType {
        name: "iat-null",
        claim: "iat",
        value: r#"null"#,
        what: "iat as JSON null",
    },
    ClaimType {
        name: "iat-true",
        claim: "iat",
        value: r#"true"#,
        what: "iat as JSON true",
    },
    ClaimType {
        name: "iat-false",
        claim: "iat",
        value: r#"false"#,
        what: "iat as JSON false",
    },
    ClaimType {
        name: "iat-empty-string",
        claim: "iat",
        value: r#""""#,
        what: "iat as an empty string",
    },
    ClaimType {
        name: "iat-array",
        claim: "iat",
        value: r#"[]"#,
        what: "iat as an empty array",
    },
    ClaimType {
        name: "iat-object",
        claim: "iat",
        value: r#"{}"#,
        what: "iat as an empty object",
    },
    ClaimType {
        name: "iss-null",
        claim: "iss",
        value: r#"null"#,
        what: "iss as JSON null",
    },
    ClaimType {
        name: "iss-true",
        claim: "iss",
        value: r#"true"#,
        what: "iss as JSON true",
    },
    ClaimType {
        name: "iss-false",
        claim: "iss",
        value: r#"false"#,
        what: "iss as JSON false",
    },
    ClaimType {
        name: "iss-zero",
        claim: "iss",
        value: r#"0"#,
        what: "iss as the number 0",
    },
    ClaimType {
        name: "iss-empty-string",
        claim: "iss",
        value: r#""""#,
        what: "iss as an empty string",
    },
    ClaimType {
        name: "iss-array",
        claim: "iss",
        value: r#"[]"#,
        what: "iss as an empty array",
    },
    ClaimType {
        name: "iss-object",
        claim: "iss",
        value: r#"{}"#,
        what: "iss as an empty object",
    },
    ClaimType {
        name: "aud-null",
        claim: "aud",
        value: r#"null"#,
        what: "aud as JSON null",
    },
    ClaimType {
        name: "aud-true",
        claim: "aud",
        value: r#"true"#,
        what: "aud as JSON true",
    },
    ClaimType {
        name: "aud-false",
        claim: "aud",
        value: r#"false"#,
        what: "aud as JSON false",
    },
    ClaimType {
        name: "aud-zero",
        claim: "aud",
        value: r#"0"#,
        what: "aud as the number 0",
    },
    ClaimType {
        name: "aud-empty-string",
        claim: "aud",
        value: r#""""#,
        what: "aud as an empty string",
    },
    ClaimType {
        name: "aud-object",
        claim: "aud",
        value: r#"{}"#,
        what: "aud as an empty object",
    },
    ClaimType {
        name: "sub-null",
        claim: "sub",
        value: r#"null"#,
        what: "sub as JSON null",
    },
    ClaimType {
        name: "sub-true",
        claim: "sub",
        value: r#"true"#,
        what: "sub as JSON true",
    },
    ClaimType {
        name: "sub-false",
        claim: "sub",
        value: r#"false"#,
        what: "sub as JSON false",
    },
    ClaimType {
        name: "sub-zero",
        claim: "sub",
        value: r#"0"#,
        what: "sub as the number 0",
    },
    ClaimType {
        name: "sub-empty-string",
        claim: "sub",
        value: r#""""#,
        what: "sub as an empty string",
    },
    ClaimType {
        name: "sub-array",
        claim: "sub",
        value: r#"[]"#,
        what: "sub as an empty array",
    },
    ClaimType {
        name: "sub-object",
        claim: "sub",
        value: r#"{}"#,
        what: "sub as an empty object",
    },
];

macro_rules! kinds {
    ($( $variant:ident = $name:literal, $family:ident, $what:literal; )*) => {
        /// A kind of token in the catalogue.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $( #[doc = $what] $variant, )*
            /// A claim of the wrong JSON type: [`CLAIM_TYPES`]`[i]`.
            ClaimType(u8),
        }

        /// The kinds written out above, before the claim types.
        const LISTED: &[Kind] = &[ $( Kind::$variant, )* ];

        /// The listed kinds, then one per [`CLAIM_TYPES`] entry.
        const fn every_kind<const N: usize>() -> [Kind; N] {
            let mut out = [LISTED[0]; N];
            let mut i = 0;
            while i < LISTED.len() {
                out[i] = LISTED[i];
                i += 1;
            }
            let mut j = 0;
            while j < CLAIM_TYPES.len() {
                out[i + j] = Kind::ClaimType(j as u8);
                j += 1;
            }
            out
        }

        const EVERY_KIND: [Kind; LISTED.len() + CLAIM_TYPES.len()] = every_kind();

        impl Kind {
            /// Every kind, in catalogue order.
            pub const ALL: &'static [Kind] = &EVERY_KIND;

            /// Kebab-case name, as on the command line.
            pub fn name(self) -> &'static str {
                match self {
                    $( Kind::$variant => $name, )*
                    Kind::ClaimType(i) => CLAIM_TYPES[i as usize].name,
                }
            }

            /// One line on what the token is.
            pub fn what(self) -> &'static str {
                match self {
                    $( Kind::$variant => $what, )*
                    Kind::ClaimType(i) => CLAIM_TYPES[i as usize].what,
                }
            }

            /// Its family.
            pub fn family(self) -> Family {
                match self {
                    $( Kind::$variant => Family::$family, )*
                    Kind::ClaimType(_) => Family::Claims,
                }
            }
        }
    };
}

kinds! {
    Valid = "valid", Good, "RS256 signed by the published key, correct iss/aud/exp";
    ValidAudArray = "valid-aud-array", Good, "valid, with aud as an array that holds the audience";
    ValidWithinLeeway = "valid-within-leeway", Good, "exp passed, but by less than the leeway";
    CognitoAccess = "cognito-access", Good, "Cognito access token: token_use=access, client_id, scope, no aud";
    CognitoId = "cognito-id", Good, "Cognito ID token: token_use=id, aud";
    Hs256Valid = "hs256-valid", Good, "HS256 signed with the shared secret";
    AllowToken = "allow-token", Good, "the static token `allow-token`";
    BearerLowercase = "bearer-lowercase", Good, "valid token after `bearer ` (the scheme is case-insensitive)";
    ValidUrlClaims = "valid-url-claims", Good, "valid, with URL claims users set (`picture`, `profile`, `website`, `callback_url`) naming the harness: allowed, and never fetched";
    ValidMarkupName = "valid-markup-name", Good, "valid, with a `name` claim (one users set themselves) holding markup and template syntax";

    Expired = "expired", Time, "exp an hour ago";
    ExpiredBeyondLeeway = "expired-beyond-leeway", Time, "exp older than now minus the leeway by 1 s";
    NotYetValid = "not-yet-valid", Time, "nbf an hour from now";
    IatFuture = "iat-future", Time, "iat an hour from now";
    ExpMissing = "exp-missing", Time, "no exp claim";
    ExpString = "exp-string", Time, "exp as a string of digits (CVE-2026-25537 class)";

    KidMissing = "kid-missing", Keys, "no kid in the header";
    KidUnknown = "kid-unknown", Keys, "a kid no key set holds";
    KidWrong = "kid-wrong", Keys, "signed by key A, header names published key B";
    KeyNotInJwks = "key-not-in-jwks", Keys, "kid of the published key, signed by a key never published";
    WeakKey = "weak-key", Keys, "signed by a 1024-bit key that is in the JWKS";
    KidPathTraversal = "kid-path-traversal", Keys, "kid `../../dev/null`";
    KidSqlInjection = "kid-sql-injection", Keys, "kid `x' UNION SELECT '1';--`";
    KidCommandInjection = "kid-command-injection", Keys, "kid `k$(sleep 1);sleep 1;#`: a shell that runs it takes a second or two longer";
    JwkEmbedded = "jwk-embedded", Keys, "attacker key in a `jwk` header, signed by it (CVE-2018-0114)";
    JkuHeader = "jku-header", Keys, "`jku` header pointing at an attacker JWKS on the harness";
    X5uHeader = "x5u-header", Keys, "`x5u` header pointing at a harness URL";

    AlgNone = "alg-none", Algorithm, "alg `none`, empty signature";
    AlgNoneCapitalized = "alg-none-capitalized", Algorithm, "alg `None`, empty signature";
    AlgNoneUpper = "alg-none-upper", Algorithm, "alg `NONE`, empty signature";
    AlgNoneMixed = "alg-none-mixed", Algorithm, "alg `nOnE`, empty signature";
    KeyConfusion = "key-confusion", Algorithm, "HS256 keyed with the RSA public key PEM";
    Hs256EmptySecret = "hs256-empty-secret", Algorithm, "HS256 keyed with an empty secret";
    Rs384 = "rs384", Algorithm, "RS384 by the right key where RS256 is expected";
    Rs512 = "rs512", Algorithm, "RS512 by the right key where RS256 is expected";
    Ps256 = "ps256", Algorithm, "PS256 by the right key where RS256 is expected";

    SigStripped = "sig-stripped", Signature, "signature removed: `header.payload.`";
    SigTruncated = "sig-truncated", Signature, "last 4 characters of the signature removed";
    SigBitFlipped = "sig-bit-flipped", Signature, "one bit of the signature flipped";
    PayloadTampered = "payload-tampered", Signature, "sub changed to `admin`, original signature kept";

    AudWrong = "aud-wrong", Claims, "aud of another API";
    AudMissing = "aud-missing", Claims, "no aud claim";
    AudEmptyArray = "aud-empty-array", Claims, "aud is []";
    IssWrong = "iss-wrong", Claims, "iss of another issuer";
    IssMissing = "iss-missing", Claims, "no iss claim";
    IssTrailingSlash = "iss-trailing-slash", Claims, "iss with a trailing `/` added";
    IssPrefix = "iss-prefix", Claims, "iss a strict prefix of the right one (CVE-2024-53861 class)";
    IssUrl = "iss-url", Claims, "iss a URL on the harness that is no issuer: refused, and never fetched (SSRF)";
    SubMissing = "sub-missing", Claims, "no sub claim";
    TokenUseSwapped = "token-use-swapped", Claims, "Cognito ID token where access is required, or the reverse";
    ClientIdWrong = "client-id-wrong", Claims, "Cognito access token of another app client";
    CritUnknown = "crit-unknown", Claims, "crit header naming an unknown extension";
    WrongStaticToken = "wrong-static-token", Claims, "a token that is not the static one";

    TwoParts = "two-parts", Format, "`header.payload` with no signature part";
    FourParts = "four-parts", Format, "a fourth part appended";
    Base64Padding = "base64-padding", Format, "`=` padding on the base64url parts";
    Base64Standard = "base64-standard", Format, "standard base64 alphabet (`+` `/`) instead of base64url";
    WhitespaceInside = "whitespace-inside", Format, "a space inside the payload part";
    Oversized = "oversized", Format, "a 1 MB token, validly signed";
    ManyDots = "many-dots", Format, "thousands of dots (CVE-2025-30204 class)";
    BearerDoubleSpace = "bearer-double-space", Format, "two spaces after `Bearer`";
    BareToken = "bare-token", Format, "the valid token without `Bearer `, where clients send the scheme";
    EmptyHeader = "empty-header", Format, "an empty Authorization header value";
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Kind {
    /// Looks a kind up by name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The closest names to a misspelt one, best first.
    pub fn suggest(name: &str) -> Vec<&'static str> {
        let mut scored: Vec<(usize, &'static str)> = Kind::ALL
            .iter()
            .map(|k| (strsim::levenshtein(name, k.name()), k.name()))
            .filter(|(d, n)| *d <= 3.max(name.len() / 3) || n.contains(name))
            .collect();
        scored.sort();
        scored.into_iter().take(3).map(|(_, n)| n).collect()
    }

    /// Who can make a token of this kind ([`Threat`]); `None` for the good kinds.
    pub fn threat(self) -> Option<Threat> {
        use Kind::*;
        use Threat as T;
        Some(match self {
            Valid | ValidAudArray | ValidWithinLeeway | CognitoAccess | CognitoId | Hs256Valid
            | AllowToken | BearerLowercase | ValidMarkupName | ValidUrlClaims => return None,
            // A token once valid: anyone who held one (or found one in a log).
            Expired | ExpiredBeyondLeeway => T::Holder,
            NotYetValid | IatFuture | ExpMissing | ExpString => T::Issuer,
            // Signed by the published key; only the kid is wrong.
            KidMissing | KidUnknown | KidWrong | KidPathTraversal | KidSqlInjection
            | KidCommandInjection => T::KidIgnored,
            // Signed by a key that was never published: anyone's.
            KeyNotInJwks => T::Anyone,
            WeakKey => T::Issuer,
            JwkEmbedded | JkuHeader | X5uHeader => T::Anyone,
            AlgNone | AlgNoneCapitalized | AlgNoneUpper | AlgNoneMixed => T::Anyone,
            // The public key is public; the empty secret is no secret.
            KeyConfusion | Hs256EmptySecret => T::Anyone,
            Rs384 | Rs512 | Ps256 => T::Issuer,
            SigStripped | SigTruncated | SigBitFlipped | PayloadTampered => T::Anyone,
            AudWrong | AudMissing | TokenUseSwapped | ClientIdWrong => T::Holder,
            AudEmptyArray | IssMissing | SubMissing | CritUnknown => T::Issuer,
            IssWrong | IssTrailingSlash | IssPrefix | IssUrl => T::IssuerUnlessShared,
            // Under the issuer's signature: only the issuer could make one.
            ClaimType(_) => T::Issuer,
            WrongStaticToken | EmptyHeader => T::Anyone,
            // No signature at all, or no token at all.
            TwoParts | ManyDots => T::Anyone,
            FourParts | Base64Padding | Base64Standard | WhitespaceInside | BearerDoubleSpace
            | BareToken => T::Reshaped,
            // Validly signed, only too large.
            Oversized => T::Issuer,
        })
    }

    /// Allow or reject: the same for every profile the kind applies to.
    pub fn direction(self) -> Expect {
        match self.family() {
            Family::Good => Expect::Allow,
            _ => self
                .expect(Profile::Jwks, TokenUse::Access)
                .or_else(|| self.expect(Profile::Cognito, TokenUse::Access))
                .or_else(|| self.expect(Profile::Cognito, TokenUse::Id))
                .or_else(|| self.expect(Profile::Hs256, TokenUse::Access))
                .or_else(|| self.expect(Profile::Static, TokenUse::Access))
                .expect("every kind applies to some profile"),
        }
    }

    /// What a correct authorizer of `profile` does with this kind, or `None` when the kind
    /// means nothing there (an `aud` case against Cognito access tokens, say).
    pub fn expect(self, profile: Profile, token_use: TokenUse) -> Option<Expect> {
        use Kind::*;
        use Profile::*;
        use Reason as R;
        let jwt = matches!(profile, Hs256 | Jwks | Cognito);
        let rsa = matches!(profile, Jwks | Cognito);
        let has_aud =
            matches!(profile, Hs256 | Jwks) || (profile == Cognito && token_use == TokenUse::Id);
        let reject = |r| Some(Expect::Reject(r));
        let allow_if = |c: bool| c.then_some(Expect::Allow);
        match self {
            Valid | ValidAudArray => allow_if(profile == Jwks),
            ValidWithinLeeway | BearerLowercase | ValidMarkupName | ValidUrlClaims => allow_if(jwt),
            CognitoAccess => allow_if(profile == Cognito && token_use == TokenUse::Access),
            CognitoId => allow_if(profile == Cognito && token_use == TokenUse::Id),
            Hs256Valid => allow_if(profile == Hs256),
            AllowToken => allow_if(profile == Static),

            Kind::Expired | ExpiredBeyondLeeway if jwt => reject(R::Expired),
            Kind::NotYetValid if jwt => reject(R::NotYetValid),
            IatFuture if jwt => reject(R::IssuedInFuture),
            ExpMissing if jwt => reject(R::MissingClaim),
            ExpString if jwt => reject(R::ClaimType),

            Kind::KidMissing if rsa => reject(R::KidMissing),
            Kind::KidUnknown | KidPathTraversal | KidSqlInjection | KidCommandInjection if rsa => {
                reject(R::KidUnknown)
            }
            KidWrong | KeyNotInJwks if rsa => reject(R::BadSignature),
            Kind::WeakKey if rsa => reject(R::WeakKey),
            JwkEmbedded | JkuHeader | X5uHeader if rsa => reject(R::UntrustedKeyHeader),

            AlgNone | AlgNoneCapitalized | AlgNoneUpper | AlgNoneMixed if jwt => {
                reject(R::AlgNotAllowed)
            }
            KeyConfusion | Rs384 | Rs512 | Ps256 if rsa => reject(R::AlgNotAllowed),
            Hs256EmptySecret if rsa => reject(R::AlgNotAllowed),
            Hs256EmptySecret if profile == Hs256 => reject(R::BadSignature),

            SigStripped | SigTruncated | SigBitFlipped | PayloadTampered if jwt => {
                reject(R::BadSignature)
            }

            AudWrong | AudEmptyArray if has_aud => reject(R::WrongAudience),
            AudMissing if has_aud => reject(R::MissingClaim),
            IssWrong | IssTrailingSlash | IssPrefix | IssUrl if jwt => reject(R::WrongIssuer),
            IssMissing | SubMissing if jwt => reject(R::MissingClaim),
            TokenUseSwapped if profile == Cognito => reject(R::WrongTokenUse),
            ClientIdWrong if profile == Cognito && token_use == TokenUse::Access => {
                reject(R::WrongClientId)
            }
            CritUnknown if jwt => reject(R::UnknownCrit),
            ClaimType(i) if jwt && (CLAIM_TYPES[i as usize].claim != "aud" || has_aud) => {
                reject(CLAIM_TYPES[i as usize].reason())
            }
            Kind::WrongStaticToken if profile == Static => reject(R::WrongStaticToken),

            TwoParts | FourParts | Base64Padding | Base64Standard | WhitespaceInside | ManyDots
                if jwt =>
            {
                reject(R::Malformed)
            }
            Kind::Oversized if jwt => reject(R::Oversized),
            BearerDoubleSpace | BareToken if jwt => reject(R::BadScheme),
            EmptyHeader => reject(R::MissingToken),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.name()), Some(*kind));
        }
        let mut names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Kind::ALL.len());
    }

    #[test]
    fn every_kind_applies_to_some_profile_in_one_direction() {
        for kind in Kind::ALL {
            let directions: Vec<&str> = [
                Profile::Static,
                Profile::Hs256,
                Profile::Jwks,
                Profile::Cognito,
            ]
            .iter()
            .flat_map(|p| [TokenUse::Access, TokenUse::Id].map(|u| kind.expect(*p, u)))
            .flatten()
            .map(Expect::word)
            .collect();
            assert!(!directions.is_empty(), "{kind} applies nowhere");
            assert!(
                directions.iter().all(|d| *d == kind.direction().word()),
                "{kind}"
            );
        }
    }

    #[test]
    fn every_bad_kind_says_who_can_make_it_and_no_good_kind_does() {
        for kind in Kind::ALL {
            let good = kind.direction() == Expect::Allow;
            assert_eq!(kind.threat().is_none(), good, "{kind}");
        }
        // Anyone's forgeries are security whatever the deployment; the issuer's own are not.
        assert!(Kind::AlgNone.threat().unwrap().exploitable(false));
        assert!(!Kind::Rs512.threat().unwrap().exploitable(true));
        let iss = Kind::IssWrong.threat().unwrap();
        assert!(!iss.exploitable(false) && iss.exploitable(true));
    }

    #[test]
    fn a_misspelt_kind_gets_a_suggestion() {
        assert_eq!(Kind::suggest("expird").first(), Some(&"expired"));
        assert!(Kind::suggest("alg-nnoe").contains(&"alg-none"));
    }
}
