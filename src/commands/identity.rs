//! `keys`, `token` and `idp serve`: the identity kit on the command line.

use super::*;

pub(super) fn keys_generate(args: KeysGenerate, out: &mut (dyn Write + Send)) -> Result<u8, Error> {
    if let Some(kid) = &args.kid {
        if args.count > 1 {
            return Err(Error::Usage {
                message: "--kid names one key, but --count asks for several".into(),
                hint: "drop --kid (kids are then thumbprints) or use --count 1".into(),
            });
        }
        keys::validate_kid(kid)?;
    }
    let dir = KeyDir::new(&args.dir);
    let existing = match (args.add, args.force) {
        (true, _) => Existing::Add,
        (_, true) => Existing::Replace,
        _ => Existing::Refuse,
    };
    // Refuse before spending time on key generation.
    dir.check_store(existing)?;
    if args.bits == keys::KeyBits::Weak1024 {
        eprintln!(
            "warning: 1024-bit keys are deliberately weak; use them only for the weak-key case"
        );
    }
    let mut made = keys::generate_many(args.bits, usize::from(args.count))?;
    if let Some(kid) = args.kid {
        made = made.into_iter().map(|k| k.with_kid(kid.clone())).collect();
    }
    let written = dir.store(&made, existing)?;
    for (key, path) in made.iter().zip(&written) {
        writeln!(
            out,
            "{}\t{} bits\t{}",
            key.kid(),
            key.bits(),
            path.display()
        )?;
    }
    eprintln!(
        "wrote {} key(s) and {}",
        written.len(),
        args.dir.join(keys::JWKS_FILE).display()
    );
    Ok(EXIT_OK)
}

pub(super) fn token_list(
    profile: Option<Profile>,
    token_use: TokenUse,
    json: bool,
    keyless: bool,
    out: &mut (dyn Write + Send),
) -> Result<u8, Error> {
    use crate::tokens::keyless as kl;
    let mut rows = Vec::new();
    for kind in Kind::ALL {
        let direction = match profile {
            Some(p) => match kind.expect(p, token_use) {
                Some(e) => e,
                None => continue,
            },
            None => kind.direction(),
        };
        if keyless {
            let (column, what) = match kl::needs_issuer_key(*kind) {
                Some(why) => ("issuer-key", why),
                None => ("keyless", kl::what(*kind)),
            };
            if json {
                rows.push(serde_json::json!({
                    "name": kind.name(),
                    "expect": direction.word(),
                    "keyless": column == "keyless",
                    "what": what,
                }));
            } else {
                writeln!(
                    out,
                    "{}\t{}\t{column}\t{what}",
                    kind.name(),
                    direction.word()
                )?;
            }
        } else if json {
            rows.push(serde_json::json!({
                "name": kind.name(),
                "expect": direction.word(),
                "what": kind.what(),
            }));
        } else {
            writeln!(
                out,
                "{}\t{}\t{}",
                kind.name(),
                direction.word(),
                kind.what()
            )?;
        }
    }
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&rows).expect("JSON")
        )?;
    }
    Ok(EXIT_OK)
}

pub(super) fn token_mint(args: TokenMint, out: &mut (dyn Write + Send)) -> Result<u8, Error> {
    let kind = Kind::from_name(&args.kind).ok_or_else(|| Error::UnknownKind {
        name: args.kind.clone(),
        suggestions: Kind::suggest(&args.kind),
    })?;
    let (region, _) =
        crate::cli::split_pool_id(&args.claims.pool_id).map_err(|message| Error::Usage {
            message,
            hint: "pass --pool-id like us-east-1_abc123".into(),
        })?;
    let default_issuer = match args.profile {
        Profile::Cognito => format!(
            "https://cognito-idp.{region}.amazonaws.com/{}",
            args.claims.pool_id
        ),
        _ => MintSettings::default().issuer,
    };
    let settings = mint_settings(&args.claims, args.profile, default_issuer);
    // Refuse kinds that do not apply before reading or making keys.
    if kind.expect(args.profile, settings.token_use).is_none() {
        return Err(crate::tokens::MintError::NotApplicable {
            kind,
            profile: args.profile,
            token_use: settings.token_use,
        }
        .into());
    }
    // Keys are read only for the profiles that sign with them; a static or hs256 mint makes
    // none (the ring makes a key on first use, and nothing RSA is signed for those).
    let ring = if args.profile.signs_with_rsa() {
        KeyRing::from_keys(KeyDir::new(&args.dir).load()?, &args.dir)?
    } else {
        KeyRing::on_demand()
    };
    let minted = Minter::new(args.profile, ring, settings).mint(kind)?;
    if args.raw {
        writeln!(out, "{}", minted.credential)?;
    } else {
        writeln!(out, "{}", minted.header_value())?;
    }
    Ok(EXIT_OK)
}

pub(super) async fn idp_serve(
    dir: std::path::PathBuf,
    addr: std::net::SocketAddr,
    expose: bool,
    pool_id: String,
    oauth: crate::cli::IdpClientArgs,
    out: &mut (dyn Write + Send),
) -> Result<u8, Error> {
    crate::net::check_listen(addr, expose)?;
    let (region, pool_suffix) =
        crate::cli::split_pool_id(&pool_id).map_err(|message| Error::Usage {
            message,
            hint: "pass --pool-id like us-east-1_abc123".into(),
        })?;
    let oauth_clients = match &oauth.client_secret_env {
        Some(var) => vec![crate::idp::OAuthClient {
            id: oauth.client_id.clone(),
            secret: crate::cli::secret_from_env("--client-secret-env", var)?,
            scopes: oauth.scopes.clone(),
        }],
        None => Vec::new(),
    };
    let keys = KeyDir::new(&dir).load()?;
    let attacker = Arc::new(SigningKey::generate(keys::KeyBits::B2048)?);
    let config = IdpConfig {
        addr,
        region,
        pool_suffix,
        reload_from: Some(dir.clone()),
        control_token: expose.then(crate::net::ControlToken::generate),
        public_url: None,
        oauth_clients,
    };
    let token = config.control_token.clone();
    let idp = Idp::start(
        keys.into_iter().map(Arc::new).collect(),
        Some(attacker),
        config,
    )
    .await?;
    writeln!(out, "jwks_url\t{}", idp.jwks_url())?;
    writeln!(out, "issuer\t{}", idp.issuer())?;
    writeln!(out, "cognito_jwks_url\t{}", idp.cognito_jwks_url())?;
    writeln!(out, "cognito_issuer\t{}", idp.cognito_issuer())?;
    if oauth.client_secret_env.is_some() {
        writeln!(out, "token_url\t{}", idp.token_url())?;
        writeln!(out, "cognito_token_url\t{}", idp.cognito_token_url())?;
    }
    if let Some(token) = &token {
        writeln!(out, "control_token\t{}", token.as_str())?;
    }
    out.flush()?;
    eprintln!(
        "serving {} key(s) from {} until Ctrl-C; control: {}{}/{{stats,fault,reload}}",
        idp.published_kids().len(),
        dir.display(),
        idp.base_url(),
        crate::idp::ADMIN_PREFIX
    );
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("stopped after {} JWKS fetch(es)", idp.jwks_fetches());
    Ok(EXIT_OK)
}
