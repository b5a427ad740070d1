//! RSA signing keys: generation, PKCS#8 PEM files on disk (mode 0600) and the public JWKS.
//!
//! Keys of 2048 bits and more are made and used by aws-lc-rs (fast, constant time). The one
//! deliberately weak size, 1024 bits, exists only for the `weak-key` case; aws-lc refuses it,
//! so the `rsa` crate makes and signs those.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self as lc_sig, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};

mod dir;
mod ring;

pub use dir::{Existing, KeyDir};
pub use ring::{KeyRing, KeyRole};

/// Name of the public key set written beside the PEM files.
pub const JWKS_FILE: &str = "jwks.json";

/// Sizes of RSA key this tool makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyBits {
    /// 1024 bits: deliberately weak, only for the `weak-key` case.
    Weak1024,
    /// 2048 bits, the default.
    B2048,
    /// 3072 bits.
    B3072,
    /// 4096 bits.
    B4096,
}

impl KeyBits {
    /// The size in bits.
    pub fn bits(self) -> usize {
        match self {
            KeyBits::Weak1024 => 1024,
            KeyBits::B2048 => 2048,
            KeyBits::B3072 => 3072,
            KeyBits::B4096 => 4096,
        }
    }

    /// Parses `1024`, `2048`, `3072` or `4096` (the clap value parser of `--bits`).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "1024" => Ok(KeyBits::Weak1024),
            "2048" => Ok(KeyBits::B2048),
            "3072" => Ok(KeyBits::B3072),
            "4096" => Ok(KeyBits::B4096),
            other => Err(format!(
                "`{other}` is not a key size this tool makes: use 2048, 3072 or 4096 (1024 only for the weak-key case)"
            )),
        }
    }
}

/// Signature algorithms an RSA key can sign with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
}

/// What can go wrong making, reading or writing keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// aws-lc could not generate a key.
    #[error("could not generate a {bits}-bit RSA key")]
    Generate {
        /// Requested size.
        bits: usize,
    },
    /// The key folder could not be listed.
    #[error("cannot list key folder {dir}")]
    ReadDir {
        /// The folder.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file could not be read.
    #[error("cannot read key file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file does not hold an RSA private key.
    #[error("{path} is not an RSA private key in PKCS#8 or PKCS#1 PEM ({detail})")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        detail: String,
    },
    /// A key file or the JWKS could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The folder already holds keys and neither `--force` nor `--add` was given.
    #[error("{dir} already holds {count} key(s)")]
    Exists {
        /// The folder.
        dir: PathBuf,
        /// How many PEM files are there.
        count: usize,
    },
    /// A `--kid` that cannot be a file name.
    #[error("kid `{kid}` cannot name a key file: use letters, digits, `.`, `_` or `-` (1 to 128)")]
    BadKid {
        /// The kid given.
        kid: String,
    },
    /// `--add` with a kid the folder already holds.
    #[error("{dir} already holds a key with kid `{kid}`")]
    KidTaken {
        /// The kid.
        kid: String,
        /// The folder.
        dir: PathBuf,
    },
    /// A folder with no key of 2048 bits or more.
    #[error("no RSA key of 2048 bits or more in {dir}")]
    NoStrongKey {
        /// The folder.
        dir: PathBuf,
    },
    /// A self-signed certificate of a key could not be made.
    #[error("cannot make a certificate of key {kid}: {reason}")]
    Certificate {
        /// The key.
        kid: String,
        /// Why.
        reason: String,
    },
    /// A key named for a role it cannot play (`weak.pem` of 2048 bits, `primary.pem` of 1024).
    #[error("{kid}.pem in {dir} is named for the {kid} role, which takes a {wanted} key")]
    WrongRole {
        /// The kid (the file stem, the role's name).
        kid: String,
        /// What the role takes.
        wanted: &'static str,
        /// The folder.
        dir: PathBuf,
    },
    /// A key folder with no key in it.
    #[error("no RSA key in {dir}")]
    Empty {
        /// The folder.
        dir: PathBuf,
    },
}

impl KeyError {
    /// A one-line hint on how to fix the problem, where there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            KeyError::Exists { .. } => {
                Some("pass --add to add keys beside them, or --force to replace them".to_string())
            }
            KeyError::Corrupt { path, .. } => Some(format!(
                "remove {} or make a new set with `authprobe keys generate --force`",
                path.display()
            )),
            KeyError::Empty { dir } => Some(format!(
                "run `authprobe keys generate --dir {}` first",
                dir.display()
            )),
            KeyError::Read { .. } | KeyError::ReadDir { .. } => {
                Some("check the path and its permissions".to_string())
            }
            KeyError::KidTaken { .. } => {
                Some("pick another --kid, or --force to replace the whole set".into())
            }
            KeyError::NoStrongKey { dir } => Some(format!(
                "add one with `authprobe keys generate --add --dir {}`",
                dir.display()
            )),
            KeyError::Write { path, .. } => Some(format!(
                "check that {} is writable",
                path.parent().unwrap_or(path).display()
            )),
            _ => None,
        }
    }
}

enum Signer {
    AwsLc(lc_sig::RsaKeyPair),
    Weak(Box<rsa::PrivateKey>),
}

/// One RSA private key with its key id. Cheap to share behind an `Arc`.
///
/// `Debug` shows the kid and size only: private material never reaches a log.
pub struct SigningKey {
    kid: String,
    bits: usize,
    n: Vec<u8>,
    e: Vec<u8>,
    signer: Signer,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

/// The public half of a key as a JWK (RFC 7517), as the mock IdP publishes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Always `RSA`.
    pub kty: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// Always `RS256`.
    pub alg: String,
    /// Key id.
    pub kid: String,
    /// Modulus, base64url without padding.
    pub n: String,
    /// Public exponent, base64url without padding.
    pub e: String,
}

/// A JWK Set document: `{"keys": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys, in publication order.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// The public set of the given keys.
    pub fn of<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> Self {
        JwkSet {
            keys: keys.into_iter().map(SigningKey::public_jwk).collect(),
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl SigningKey {
    /// Makes a new key in memory; its kid is its RFC 7638 thumbprint.
    pub fn generate(bits: KeyBits) -> Result<Self, KeyError> {
        let err = || KeyError::Generate { bits: bits.bits() };
        match bits {
            KeyBits::Weak1024 => {
                let key = rsa::PrivateKey::new(&mut rand::rng(), 1024).map_err(|_| err())?;
                Ok(Self::from_weak(key, None))
            }
            other => {
                let size = match other {
                    KeyBits::B2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
                    KeyBits::B3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
                    _ => aws_lc_rs::rsa::KeySize::Rsa4096,
                };
                let pair = lc_sig::RsaKeyPair::generate(size).map_err(|_| err())?;
                Ok(Self::from_aws_lc(pair, None))
            }
        }
    }

    fn from_aws_lc(pair: lc_sig::RsaKeyPair, kid: Option<String>) -> Self {
        let public = pair.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        let bits = pair.public_modulus_len() * 8;
        Self::assemble(kid, bits, n, e, Signer::AwsLc(pair))
    }

    fn from_weak(key: rsa::PrivateKey, kid: Option<String>) -> Self {
        let n = key.n_bytes().to_vec();
        let e = key.e_bytes().to_vec();
        let bits = key.size() * 8;
        Self::assemble(kid, bits, n, e, Signer::Weak(Box::new(key)))
    }

    fn assemble(kid: Option<String>, bits: usize, n: Vec<u8>, e: Vec<u8>, signer: Signer) -> Self {
        let mut key = SigningKey {
            kid: String::new(),
            bits,
            n,
            e,
            signer,
        };
        key.kid = kid.unwrap_or_else(|| key.thumbprint());
        key
    }

    /// Reads a private key PEM, PKCS#8 or PKCS#1.
    /// `origin` names the source in errors; `kid` overrides the thumbprint.
    pub fn from_pem(pem: &str, origin: &Path, kid: Option<String>) -> Result<Self, KeyError> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let corrupt = |detail: String| KeyError::Corrupt {
            path: origin.to_path_buf(),
            detail,
        };
        // Say what is wrong with a file that holds no PEM block at all: the PEM parser calls
        // that a "NUL byte" in the text before the block.
        if !pem.lines().any(|l| l.starts_with("-----BEGIN ")) {
            return Err(corrupt(
                "no PEM block: no line starts with `-----BEGIN`".into(),
            ));
        }
        let parsed = rsa::PrivateKey::from_pkcs8_pem(pem)
            .or_else(|e8| rsa::PrivateKey::from_pkcs1_pem(pem).map_err(|_| e8))
            .map_err(|e| corrupt(e.to_string()))?;
        if parsed.size() * 8 < 2048 {
            return Ok(Self::from_weak(parsed, kid));
        }
        let der = parsed.to_pkcs8_der().map_err(|e| corrupt(e.to_string()))?;
        let pair =
            lc_sig::RsaKeyPair::from_pkcs8(der.as_bytes()).map_err(|e| corrupt(e.to_string()))?;
        Ok(Self::from_aws_lc(pair, kid))
    }

    /// The key id published in the JWKS and put in token headers.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// True for the deliberately weak keys (under 2048 bits).
    pub fn is_weak(&self) -> bool {
        self.bits < 2048
    }

    /// The same key under another kid.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// RFC 7638 JWK thumbprint: SHA-256 over `{"e":…,"kty":"RSA","n":…}`, base64url.
    pub fn thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            b64(&self.e),
            b64(&self.n)
        );
        b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// The public JWK (kty, use=sig, alg=RS256, kid, n, e).
    pub fn public_jwk(&self) -> Jwk {
        Jwk {
            kty: "RSA".into(),
            use_: "sig".into(),
            alg: "RS256".into(),
            kid: self.kid.clone(),
            n: b64(&self.n),
            e: b64(&self.e),
        }
    }

    /// The public key as an SPKI PEM (`BEGIN PUBLIC KEY`), byte for byte what a key-confusion
    /// attacker would use as an HMAC secret.
    pub fn public_key_pem(&self) -> String {
        let public = rsa::PublicKey::new(
            rsa::BoxedUint::from_be_slice_vartime(&self.n),
            rsa::BoxedUint::from_be_slice_vartime(&self.e),
        )
        .expect("a key's own public half is valid");
        public
            .to_public_key_pem(LineEnding::LF)
            .expect("SPKI encoding of a valid key")
    }

    /// A self-signed X.509 certificate of the public key (PEM, `BEGIN CERTIFICATE`), for an
    /// authorizer that pins its issuer's certificate rather than fetching a JWKS (Auth0 hands
    /// out its signing keys as certificates). Valid from a day ago for a year; the subject
    /// names the kid.
    pub fn certificate_pem(&self) -> Result<String, KeyError> {
        let failed = |e: rcgen::Error| KeyError::Certificate {
            kid: self.kid.clone(),
            reason: e.to_string(),
        };
        let pair =
            rcgen::KeyPair::from_pem_and_sign_algo(&self.to_pkcs8_pem(), &rcgen::PKCS_RSA_SHA256)
                .map_err(failed)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("authprobe issuer key {}", self.kid),
        );
        let now = std::time::SystemTime::now();
        params.not_before = (now - std::time::Duration::from_secs(86_400)).into();
        params.not_after = (now + std::time::Duration::from_secs(365 * 86_400)).into();
        Ok(params.self_signed(&pair).map_err(failed)?.pem())
    }

    /// Signs `message` with the given algorithm.
    pub fn sign(&self, alg: RsaAlg, message: &[u8]) -> Vec<u8> {
        match &self.signer {
            Signer::AwsLc(pair) => {
                let padding: &'static dyn lc_sig::RsaEncoding = match alg {
                    RsaAlg::Rs256 => &lc_sig::RSA_PKCS1_SHA256,
                    RsaAlg::Rs384 => &lc_sig::RSA_PKCS1_SHA384,
                    RsaAlg::Rs512 => &lc_sig::RSA_PKCS1_SHA512,
                    RsaAlg::Ps256 => &lc_sig::RSA_PSS_SHA256,
                };
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    padding,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    message,
                    &mut out,
                )
                .expect("aws-lc signs with a key it loaded");
                out
            }
            Signer::Weak(key) => weak_sign(key, alg, message),
        }
    }

    /// PKCS#8 PEM of the private key. Only [`KeyDir`] writes it, to a 0600 file.
    fn to_pkcs8_pem(&self) -> String {
        match &self.signer {
            Signer::AwsLc(pair) => {
                let der = pair.as_der().expect("aws-lc exports its own key");
                let key =
                    rsa::PrivateKey::from_pkcs8_der(der.as_ref()).expect("aws-lc PKCS#8 parses");
                key.to_pkcs8_pem(LineEnding::LF)
                    .expect("PKCS#8 encoding")
                    .to_string()
            }
            Signer::Weak(key) => key
                .to_pkcs8_pem(LineEnding::LF)
                .expect("PKCS#8 encoding")
                .to_string(),
        }
    }
}

fn weak_sign(key: &rsa::PrivateKey, alg: RsaAlg, message: &[u8]) -> Vec<u8> {
    use rsa::sha2::{Digest, Sha256, Sha384, Sha512};
    use rsa::{Pkcs1v15Sign, Pss};
    let mut rng = rand::rng();
    let result = match alg {
        RsaAlg::Rs256 => key.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message)),
        RsaAlg::Rs384 => key.sign(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(message)),
        RsaAlg::Rs512 => key.sign(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(message)),
        RsaAlg::Ps256 => {
            key.sign_with_rng(&mut rng, Pss::<Sha256>::new(), &Sha256::digest(message))
        }
    };
    result.expect("the rsa crate signs with a key it made")
}

/// Makes `count` keys of one size, in parallel on all cores.
pub fn generate_many(bits: KeyBits, count: usize) -> Result<Vec<SigningKey>, KeyError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(count.max(1));
    let per = count.div_ceil(workers.max(1));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let n = per.min(count.saturating_sub(w * per));
                s.spawn(move || {
                    (0..n)
                        .map(|_| SigningKey::generate(bits))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut keys = Vec::with_capacity(count);
        for h in handles {
            keys.extend(h.join().expect("key generation thread")?);
        }
        Ok(keys)
    })
}

/// Checks that a kid given by the user can name a file.
pub fn validate_kid(kid: &str) -> Result<(), KeyError> {
    let ok = (1..=128).contains(&kid.len())
        && !kid.starts_with('.')
        && kid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(KeyError::BadKid {
            kid: kid.to_string(),
        })
    }
}

/// The SPKI PEM (`BEGIN PUBLIC KEY`) of the RSA public key with modulus `n` and exponent `e`
/// (big-endian bytes, as a JWK carries them); `None` when they make no valid key.
pub fn public_key_pem(n: &[u8], e: &[u8]) -> Option<String> {
    rsa::PublicKey::new(
        rsa::BoxedUint::from_be_slice_vartime(n),
        rsa::BoxedUint::from_be_slice_vartime(e),
    )
    .ok()?
    .to_public_key_pem(LineEnding::LF)
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // The RFC 7638 §3.1 example key and its thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let key = SigningKey {
            kid: String::new(),
            bits: 2048,
            n: URL_SAFE_NO_PAD.decode(n).unwrap(),
            e: vec![1, 0, 1],
            signer: Signer::Weak(Box::new(
                rsa::PrivateKey::new(&mut rand::rng(), 1024).unwrap(),
            )),
        };
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn a_written_key_reads_back_with_the_same_kid_and_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(KeyBits::B2048).unwrap();
        let kid = key.kid().to_string();
        let written = KeyDir::new(dir.path())
            .store(&[key], Existing::Refuse)
            .unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&written[0]).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = KeyDir::new(dir.path()).load().unwrap();
        assert_eq!(loaded[0].kid(), kid);
        assert_eq!(loaded[0].thumbprint(), kid);
    }

    #[test]
    fn a_ring_makes_each_key_on_first_use_and_keeps_it() {
        let ring = KeyRing::on_demand();
        assert_eq!(ring.made(), 0);
        let primary = ring.primary().unwrap();
        assert_eq!(ring.made(), 1);
        assert_eq!(ring.clone().primary().unwrap().kid(), primary.kid());
        assert!(ring.weak().unwrap().unwrap().is_weak());
        ring.prepare(&KeyRole::ALL).unwrap();
        assert_eq!(ring.made(), 6);
        let kids: std::collections::HashSet<String> = KeyRole::ALL
            .iter()
            .map(|r| ring.get(*r).unwrap().unwrap().kid().to_string())
            .collect();
        assert_eq!(kids.len(), 6, "six different keys");
    }

    #[test]
    fn keys_made_in_the_background_are_waited_for_and_each_role_keeps_its_first_key() {
        let ring = KeyRing::on_demand();
        let workers = ring.make_in_background(&KeyRole::RUN_ORDER);
        assert!(!workers.is_empty());
        // Asked for at once: each waits for the one being made instead of making another.
        let first: Vec<String> = KeyRole::RUN_ORDER
            .iter()
            .map(|r| ring.get(*r).unwrap().unwrap().kid().to_string())
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(ring.made(), 6);
        let again: Vec<String> = KeyRole::RUN_ORDER
            .iter()
            .map(|r| ring.get(*r).unwrap().unwrap().kid().to_string())
            .collect();
        assert_eq!(first, again);
        assert_eq!(
            first.iter().collect::<std::collections::HashSet<_>>().len(),
            6
        );
        assert!(ring.weak().unwrap().unwrap().is_weak());
        assert!(
            ring.make_in_background(&KeyRole::ALL).is_empty(),
            "nothing left to make"
        );
    }

    #[test]
    fn a_ring_from_a_folder_lacks_what_the_folder_lacks_and_makes_only_the_unpublished_keys() {
        let key = SigningKey::generate(KeyBits::B2048).unwrap();
        let kid = key.kid().to_string();
        let ring = KeyRing::from_keys(vec![key], Path::new("keys")).unwrap();
        assert_eq!(ring.made(), 1);
        assert!(ring.secondary().unwrap().is_none());
        assert!(ring.weak().unwrap().is_none());
        let published: Vec<String> = ring
            .published()
            .unwrap()
            .iter()
            .map(|k| k.kid().to_string())
            .collect();
        assert_eq!(published, [kid]);
        assert_ne!(ring.outside().unwrap().kid(), ring.primary().unwrap().kid());
        assert_eq!(ring.made(), 2);
    }

    #[test]
    fn a_key_named_for_its_role_plays_it_whatever_the_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let keys = [
            SigningKey::generate(KeyBits::B2048).unwrap(),
            SigningKey::generate(KeyBits::B2048).unwrap(),
        ];
        let paths = KeyDir::new(dir.path())
            .store(&keys, Existing::Refuse)
            .unwrap();
        // The second key becomes `primary.pem`; the other sorts first (hex before `p`).
        std::fs::rename(&paths[1], dir.path().join("primary.pem")).unwrap();
        std::fs::rename(&paths[0], dir.path().join("0-other.pem")).unwrap();
        let ring = KeyRing::from_keys(KeyDir::new(dir.path()).load().unwrap(), dir.path()).unwrap();
        assert_eq!(ring.primary().unwrap().kid(), "primary");
        assert_eq!(ring.secondary().unwrap().unwrap().kid(), "0-other");
        // A name the key cannot live up to is refused, with the role's need.
        std::fs::rename(dir.path().join("0-other.pem"), dir.path().join("weak.pem")).unwrap();
        let err = KeyRing::from_keys(KeyDir::new(dir.path()).load().unwrap(), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("weak.pem") && err.contains("1024-bit"),
            "{err}"
        );
    }

    #[test]
    fn a_weak_key_round_trips_through_pem() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(KeyBits::Weak1024).unwrap();
        KeyDir::new(dir.path())
            .store(&[key], Existing::Refuse)
            .unwrap();
        let loaded = KeyDir::new(dir.path()).load().unwrap();
        assert!(loaded[0].is_weak());
        assert_eq!(loaded[0].sign(RsaAlg::Rs256, b"x").len(), 128);
    }
}
