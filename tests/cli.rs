//! The real binary: keys, tokens, the IdP server, and how bad input is reported.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// The PKCS#8 PEM header, spelt in two halves so no tracked file looks like it holds a key.
const PKCS8_HEADER: &str = concat!("-----BEGIN ", "PRIVATE KEY-----");

fn authprobe(args: &[&str]) -> Output {
    support::authprobe_command()
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("authprobe runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn generate(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["keys", "generate", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    authprobe(&args)
}

/// The error line: exactly one line that names the problem and the fix.
fn assert_one_line_error(o: &Output, needles: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(o));
    let err = stderr(o);
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {err}"));
    for needle in needles {
        assert!(line.contains(needle), "`{needle}` missing from: {line}");
    }
}

#[test]
fn the_help_lists_every_subcommand() {
    insta::assert_snapshot!(stdout(&authprobe(&["--help"])));
}

#[test]
fn completions_and_the_manual_page_come_from_the_same_definitions_as_help() {
    let bash = authprobe(&["completions", "bash", "--static"]);
    assert!(bash.status.success(), "{}", stderr(&bash));
    let script = stdout(&bash);
    assert!(script.contains("complete -F _authprobe"), "{script}");
    assert!(
        script.contains("--rotation-window"),
        "every flag is completed"
    );
    let zsh = authprobe(&["completions", "zsh", "--static"]);
    assert!(stdout(&zsh).starts_with("#compdef authprobe"));
    let zsh = authprobe(&["completions", "zsh"]);
    assert!(
        stdout(&zsh).contains("AUTHPROBE_COMPLETE=\"zsh\""),
        "{}",
        stdout(&zsh)
    );
    let unknown = authprobe(&["completions", "tcsh"]);
    assert_eq!(unknown.status.code(), Some(2));

    let man = authprobe(&["man"]);
    assert!(man.status.success(), "{}", stderr(&man));
    let page = stdout(&man);
    assert!(page.contains(".TH authprobe 1"), "{page}");
    assert!(page.contains("conform"), "the subcommands are listed");

    // `--help` ends with the exit codes, on every command.
    for args in [
        &["--help"][..],
        &["conform", "--help"],
        &["gateway", "serve", "--help"],
    ] {
        let help = stdout(&authprobe(args));
        assert!(help.contains("Exit status:\n  0 "), "{args:?}: {help}");
        assert!(
            help.trim_end()
                .ends_with("(a page per command: `authprobe man conform`)."),
            "{args:?}: {help}"
        );
    }
}

/// `man -l FILE` as a reader would see it, 80 columns wide.
fn man_rendered(file: &Path) -> String {
    let shown = Command::new("man")
        .args(["-l", "--no-hyphenation", "--no-justification"])
        .arg(file)
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        .expect("man is installed (.ci/run installs man-db)");
    assert!(
        shown.status.success(),
        "{}: {}",
        file.display(),
        stderr(&shown)
    );
    assert!(
        !stderr(&shown).contains("warning"),
        "{}: {}",
        file.display(),
        stderr(&shown)
    );
    stdout(&shown)
}

#[test]
fn every_command_has_a_manual_page_that_man_renders_with_exit_status_environment_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = authprobe(&["man", "conform"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(dir.path().join("conform.1"), &out.stdout).unwrap();
    let conform = man_rendered(&dir.path().join("conform.1"));
    for heading in [
        "NAME",
        "SYNOPSIS",
        "OPTIONS",
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
    ] {
        assert!(conform.contains(heading), "{heading}: {conform}");
    }
    assert!(conform.contains("authprobe-conform"), "{conform}");
    assert!(conform.contains("--update-snapshots"), "{conform}");
    assert!(conform.contains("AUTHPROBE_UPDATE_SNAPSHOTS"), "{conform}");

    let pages = dir.path().join("pages");
    let all = authprobe(&["man", "--dir", pages.to_str().unwrap()]);
    assert!(all.status.success(), "{}", stderr(&all));
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for expected in [
        "authprobe.1",
        "authprobe-conform.1",
        "authprobe-gateway-serve.1",
        "authprobe-snapshots-review.1",
        "authprobe-token-mint.1",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    for name in &names {
        let shown = man_rendered(&pages.join(name));
        assert!(shown.contains("EXIT STATUS"), "{name}: {shown}");
    }
    // The top page names the subcommands' pages, and each of those exists.
    let top = man_rendered(&pages.join("authprobe.1"));
    assert!(top.contains("authprobe-conform(1)"), "{top}");

    assert_one_line_error(
        &authprobe(&["man", "nosuch"]),
        &["no manual page for `nosuch`", "conform"],
    );
}

#[test]
fn token_list_prints_every_kind_with_its_direction() {
    let out = authprobe(&["token", "list"]);
    assert!(out.status.success());
    for line in stdout(&out).lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 3, "{line}");
        assert!(cols[1] == "allow" || cols[1] == "reject", "{line}");
    }
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn generated_keys_are_private_files_with_a_public_jwks_beside_them() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = generate(&keys, &["--count", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pems: Vec<_> = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pem"))
        .collect();
    assert_eq!(pems.len(), 2);
    for pem in &pems {
        assert_eq!(
            std::fs::metadata(pem).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(
            std::fs::read_to_string(pem)
                .unwrap()
                .starts_with(PKCS8_HEADER)
        );
    }
    let jwks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(keys.join("jwks.json")).unwrap()).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let printed = authprobe(&["keys", "jwks", "--dir", keys.to_str().unwrap()]);
    let printed: serde_json::Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(printed, jwks);
    assert!(
        !stdout(&out).contains("PRIVATE") && !stderr(&out).contains("PRIVATE"),
        "no private key is printed"
    );
}

#[test]
fn existing_keys_are_kept_unless_force_or_add_is_given() {
    let dir = tempfile::tempdir().unwrap();
    assert!(generate(dir.path(), &[]).status.success());
    let refused = generate(dir.path(), &[]);
    assert_one_line_error(&refused, &["already holds 1 key", "--force", "--add"]);
    assert!(generate(dir.path(), &["--add"]).status.success());
    let count = |d: &Path| {
        std::fs::read_dir(d)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "pem")
            })
            .count()
    };
    assert_eq!(count(dir.path()), 2);
    assert!(
        generate(dir.path(), &["--force", "--kid", "only-key"])
            .status
            .success()
    );
    assert_eq!(count(dir.path()), 1);
    assert!(dir.path().join("only-key.pem").exists());
}

#[test]
fn a_minted_token_is_a_bearer_header_with_three_parts() {
    let dir = tempfile::tempdir().unwrap();
    assert!(generate(dir.path(), &[]).status.success());
    let out = authprobe(&[
        "token",
        "mint",
        "valid",
        "--dir",
        dir.path().to_str().unwrap(),
        "--claim",
        "role=admin",
        "--claim",
        "n=3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let header = stdout(&out);
    let token = header
        .trim()
        .strip_prefix("Bearer ")
        .expect("Bearer scheme");
    assert_eq!(token.split('.').count(), 3);
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["n"], 3);
    let raw = authprobe(&[
        "token",
        "mint",
        "hs256-valid",
        "--profile",
        "hs256",
        "--raw",
    ]);
    assert!(raw.status.success(), "{}", stderr(&raw));
    assert!(!stdout(&raw).starts_with("Bearer"));
}

#[test]
fn an_unknown_kind_gets_a_did_you_mean_and_the_list() {
    let out = authprobe(&["token", "mint", "expird"]);
    assert_one_line_error(
        &out,
        &["`expird` is not a token kind", "did you mean `expired`"],
    );
    assert!(stderr(&out).contains("  alg-none\n"), "the list follows");
}

#[test]
fn a_bad_claim_is_refused_with_the_form_to_use() {
    let out = authprobe(&["token", "mint", "valid", "--claim", "novalue"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not K=V: write e.g. --claim role=admin"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_corrupt_key_file_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.pem"),
        format!(
            "{PKCS8_HEADER}\nnot base64\n-----END {}-----\n",
            &PKCS8_HEADER[11..26]
        ),
    )
    .unwrap();
    let out = authprobe(&[
        "token",
        "mint",
        "valid",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_one_line_error(
        &out,
        &[
            "broken.pem",
            "is not an RSA private key",
            "keys generate --force",
        ],
    );
}

#[test]
fn an_unreadable_key_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // A folder where a file should be cannot be read, even by root.
    std::fs::create_dir(dir.path().join("odd.pem")).unwrap();
    let out = authprobe(&["keys", "jwks", "--dir", dir.path().to_str().unwrap()]);
    assert_one_line_error(&out, &["cannot read key file", "odd.pem"]);
}

#[test]
fn minting_without_keys_says_how_to_make_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = authprobe(&[
        "token",
        "mint",
        "valid",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["no RSA key in", "authprobe keys generate"]);
}

#[test]
fn a_kind_of_another_profile_says_which_profile_fits() {
    let out = authprobe(&["token", "mint", "cognito-access"]);
    assert_one_line_error(
        &out,
        &["does not apply to the jwks profile", "--profile cognito"],
    );
}

async fn get_json(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> serde_json::Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn idp_serve_answers_both_well_known_paths_and_its_control_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    assert!(generate(dir.path(), &["--count", "2"]).status.success());
    let child = support::authprobe_command()
        .args(["idp", "serve", "--dir", dir.path().to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    // Readiness is the printed URLs: the server listens before it prints them.
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let mut urls = std::collections::HashMap::new();
    for _ in 0..4 {
        let line = lines.next().unwrap().unwrap();
        let (k, v) = line.split_once('\t').unwrap();
        urls.insert(k.to_string(), v.to_string());
    }
    let http = support::http();
    let jwks: serde_json::Value = get_json(&http, &urls["jwks_url"]).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let discovery: serde_json::Value = get_json(
        &http,
        format!("{}/.well-known/openid-configuration", urls["issuer"]),
    )
    .await;
    assert_eq!(
        discovery["jwks_uri"].as_str(),
        Some(urls["jwks_url"].as_str())
    );

    // Rotation from the folder: add a key on disk, reload, and it is published.
    assert!(generate(dir.path(), &["--add"]).status.success());
    let base = urls["issuer"].clone();
    let reload = http
        .post(format!("{base}/_authprobe/idp/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200);
    let jwks: serde_json::Value = get_json(&http, &urls["jwks_url"]).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 3);

    // A fault set over HTTP is served, and cleared.
    let set = http
        .post(format!("{base}/_authprobe/idp/fault"))
        .json(&serde_json::json!({"fault": "status", "status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 204);
    assert_eq!(
        http.get(&urls["cognito_jwks_url"])
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    http.delete(format!("{base}/_authprobe/idp/fault"))
        .send()
        .await
        .unwrap();
    let stats: serde_json::Value = get_json(&http, format!("{base}/_authprobe/idp/stats")).await;
    assert_eq!(stats["jwks_fetches"], 3);
    assert_eq!(stats["fault"], serde_json::Value::Null);
}

#[test]
fn a_kind_of_the_other_cognito_token_says_which_token_use_fits() {
    let out = authprobe(&[
        "token",
        "mint",
        "cognito-access",
        "--profile",
        "cognito",
        "--token-use",
        "id",
    ]);
    assert_one_line_error(&out, &["with ID tokens required", "--token-use access"]);
}

#[tokio::test]
async fn an_exposed_idp_prints_a_control_token_and_its_control_endpoints_need_it() {
    let dir = tempfile::tempdir().unwrap();
    assert!(generate(dir.path(), &[]).status.success());
    // --expose on a loopback address: the token rule applies without leaving the machine.
    let child = support::authprobe_command()
        .args(["idp", "serve", "--expose", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let mut printed = std::collections::HashMap::new();
    for _ in 0..5 {
        let line = lines.next().unwrap().unwrap();
        let (k, v) = line.split_once('\t').unwrap();
        printed.insert(k.to_string(), v.to_string());
    }
    let token = &printed["control_token"];
    let base = &printed["issuer"];
    let http = support::http();
    let control = [
        (reqwest::Method::GET, "stats"),
        (reqwest::Method::POST, "fault"),
        (reqwest::Method::DELETE, "fault"),
        (reqwest::Method::POST, "reload"),
        (reqwest::Method::DELETE, "keys/some-kid"),
    ];
    for (method, path) in &control {
        let url = format!("{base}/_authprobe/idp/{path}");
        for bad in [None, Some("Bearer wrong")] {
            let mut request = http.request(method.clone(), &url);
            if let Some(bad) = bad {
                request = request.header("authorization", bad);
            }
            let status = request.send().await.unwrap().status();
            assert_eq!(status, 401, "{method} {path} with {bad:?}");
        }
    }
    // What an authorizer fetches stays public.
    for url in [
        printed["jwks_url"].clone(),
        format!("{base}/.well-known/openid-configuration"),
    ] {
        assert_eq!(http.get(&url).send().await.unwrap().status(), 200, "{url}");
    }
    let set = http
        .post(format!("{base}/_authprobe/idp/fault"))
        .bearer_auth(token)
        .json(&serde_json::json!({"fault": "status", "status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 204);
    let stats = http
        .get(format!("{base}/_authprobe/idp/stats"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(stats.status(), 200);
    let stats: serde_json::Value = stats.json().await.unwrap();
    assert_eq!(stats["fault"]["status"], 503);
}

#[test]
fn a_binary_key_file_is_called_not_text() {
    // The text cases are rows of tests/hostile.rs; a &'static str cannot hold this one.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blob.pem"), [0xff, 0xfe, 0x00, 0x01]).unwrap();
    let out = authprobe(&["keys", "jwks", "--dir", dir.path().to_str().unwrap()]);
    assert_one_line_error(&out, &["blob.pem", "not text"]);
}

/// `authprobe conform ARGS` with reports going to a fresh folder; returns the output and
/// whether anything was written there.
/// Its address space is capped at 4 GiB, so a run that reads an endless input ends with an
/// allocation failure instead of taking the machine's memory.
fn conform_in_temp(args: &[&str]) -> (Output, bool) {
    use std::os::unix::process::CommandExt;
    let reports = tempfile::tempdir().unwrap();
    let mut command = support::authprobe_command();
    command
        .args(["conform", "--report-dir"])
        .arg(reports.path())
        .args(args)
        .env("NO_COLOR", "1");
    // SAFETY: setrlimit is async-signal-safe and touches nothing of the parent.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 4 << 30,
                rlim_max: 4 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = command.output().expect("authprobe runs");
    let wrote = std::fs::read_dir(reports.path()).unwrap().next().is_some();
    (out, wrote)
}

#[test]
fn a_scenario_that_is_not_a_small_regular_file_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.toml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; 5 << 20]).unwrap();
    for (path, words) in [
        ("/dev/zero", "/dev/zero is not a regular file"),
        (fifo.to_str().unwrap(), "fifo.toml is not a regular file"),
        (dir.path().to_str().unwrap(), "is not a regular file"),
        (big.to_str().unwrap(), "big.toml is larger than 4 MiB"),
    ] {
        let (out, wrote) = conform_in_temp(&["--scenario", path]);
        assert_one_line_error(&out, &[words]);
        assert!(!wrote, "{path}: nothing written");
    }
}

#[test]
fn token_list_and_invoke_answer_in_json_when_asked() {
    let list = authprobe(&["token", "list", "--profile", "static", "--json"]);
    assert!(list.status.success(), "{}", stderr(&list));
    let kinds: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert!(
        kinds
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "allow-token" && k["expect"] == "allow"),
        "{kinds}"
    );

    let invoke = authprobe(&["invoke", "--target", "builtin:static", "--json"]);
    assert_eq!(invoke.status.code(), Some(0), "{}", stderr(&invoke));
    let answer: serde_json::Value = serde_json::from_slice(&invoke.stdout).unwrap();
    assert_eq!(answer["outcome"], "allow", "{answer}");
    assert_eq!(answer["expected"], "allow", "{answer}");
    assert_eq!(answer["response"]["principalId"], "static-user", "{answer}");
}

#[test]
fn env_and_workdir_for_a_target_that_cannot_use_them_are_bad_usage() {
    let out = authprobe(&["conform", "--env", "X=1", "--no-snapshots"]);
    assert_one_line_error(&out, &["--env is only for lambda: targets", "builtin:"]);
    let out = authprobe(&[
        "invoke",
        "--target",
        "invoke:http://127.0.0.1:9/",
        "--workdir",
        ".",
    ]);
    assert_one_line_error(
        &out,
        &["--workdir is only for lambda: targets", "docker run -e"],
    );
}

#[test]
fn a_non_loopback_idp_address_needs_idp_expose() {
    let out = authprobe(&["invoke", "--idp-addr", "0.0.0.0:0"]);
    assert_one_line_error(
        &out,
        &[
            "--idp-addr 0.0.0.0:0 is not a loopback address",
            "--idp-expose",
        ],
    );
}

#[test]
fn profile_show_prints_each_builtin_profile_complete_and_it_loads_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["static", "hs256", "jwks", "cognito"] {
        let out = authprobe(&["profile", "show", name]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        // Every setting is there to edit: the name to fill in, and each top-level key.
        for key in [
            "# name = ",
            "event = ",
            "simple_responses = ",
            "identity = ",
            "cache_ttl = ",
        ] {
            assert!(text.contains(key), "{name} lacks `{key}`");
        }
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, &text).unwrap();
        let mut mine = authprobe::conform::profile::load(&path).unwrap();
        let builtin = authprobe::conform::profile::builtin(name).unwrap();
        mine.origin = builtin.origin.clone();
        assert_eq!(format!("{mine:?}"), format!("{builtin:?}"), "{name}");
    }
}

#[test]
fn token_use_id_swaps_the_cognito_good_token_and_keeps_only_the_cases_that_apply() {
    let list = |extra: &[&str]| {
        let mut args = vec!["conform", "--profile", "cognito", "--list"];
        args.extend(extra);
        let out = authprobe(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let access = list(&[]);
    let id = list(&["--token-use", "id"]);
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect()
    };
    // The good token is the ID token, where the access token was; what only access tokens
    // have is gone, and what only ID tokens have is there.
    let (access, id) = (names(&access), names(&id));
    let at = access.iter().position(|n| n == "cognito-access").unwrap();
    assert_eq!(id[at], "cognito-id");
    assert!(
        !id.iter()
            .any(|n| n == "client-id-wrong" || n == "cognito-access")
    );
    assert!(id.iter().any(|n| n == "aud-wrong"), "{id:?}");
    // `token list` agrees on what applies.
    let out = authprobe(&["token", "list", "--profile", "cognito", "--token-use", "id"]);
    let listed = String::from_utf8(out.stdout).unwrap();
    for name in &id {
        if authprobe::tokens::Kind::from_name(name).is_some() {
            assert!(
                listed.contains(name.as_str()),
                "{name} is run but not listed"
            );
        }
    }
    // One kind of token elsewhere: refused with what to do.
    let out = authprobe(&[
        "conform",
        "--profile",
        "jwks",
        "--token-use",
        "id",
        "--list",
    ]);
    assert_one_line_error(
        &out,
        &["--token-use id", "jwks profile", "leave --token-use out"],
    );
}

/// A snapshot folder with a changed snapshot (`changed`), a second one (`other`) and a new
/// one (`fresh`) pending, written as a conform run writes them.
fn pending_snapshots(dir: &Path) {
    use authprobe::conform::snapshot::file::render;
    let snaps = dir.join("snaps");
    std::fs::create_dir_all(&snaps).unwrap();
    let doc = |principal: &str| serde_json::json!({ "principalId": principal });
    for (case, old, new) in [
        ("changed", Some("before"), "after"),
        ("other", Some("kept"), "dropped"),
        ("fresh", None, "first"),
    ] {
        if let Some(old) = old {
            std::fs::write(
                snaps.join(format!("{case}.snap")),
                render("builtin:jwks", case, &doc(old)),
            )
            .unwrap();
        }
        std::fs::write(
            snaps.join(format!("{case}.snap.new")),
            render("builtin:jwks", case, &doc(new)),
        )
        .unwrap();
    }
}

fn principal_of(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let file = authprobe::conform::snapshot::file::parse(&text).ok()?;
    Some(file.document()?["principalId"].as_str()?.to_string())
}

/// Runs `authprobe ARGS` in `dir` on a pseudo-terminal, typing each key once the review has
/// asked for it; returns what the terminal showed and the exit code.
fn on_a_terminal(dir: &Path, args: &[&str], keys: &[u8]) -> (String, Option<i32>) {
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors; no name, settings or size are passed.
    let opened = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned here alone.
    let (mut master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    let mut child = {
        let mut command = support::authprobe_command();
        command
            .args(args)
            .current_dir(dir)
            .env_remove("NO_COLOR")
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        command.spawn().expect("authprobe runs")
        // The command, and with it this process's copies of the terminal's other end, is
        // dropped here: reading the master ends when the child exits.
    };
    let (sender, received) = std::sync::mpsc::channel::<Vec<u8>>();
    let mut reader = master.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buffer) {
            if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut shown = Vec::new();
    let prompt = b"q quit > ";
    let prompts = |shown: &[u8]| shown.windows(prompt.len()).filter(|w| w == prompt).count();
    for (i, key) in keys.iter().enumerate() {
        // A guard against a hang, not a timing assertion.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while prompts(&shown) <= i {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match received.recv_timeout(left) {
                Ok(chunk) => shown.extend(chunk),
                Err(_) => panic!(
                    "no prompt {} within a minute:\n{}",
                    i + 1,
                    String::from_utf8_lossy(&shown)
                ),
            }
        }
        master.write_all(&[*key]).unwrap();
    }
    let status = child.wait().unwrap();
    while let Ok(chunk) = received.recv_timeout(std::time::Duration::from_secs(5)) {
        shown.extend(chunk);
    }
    (String::from_utf8_lossy(&shown).into_owned(), status.code())
}

#[test]
fn snapshots_review_shows_each_pending_diff_and_takes_one_key_for_each() {
    let dir = tempfile::tempdir().unwrap();
    pending_snapshots(dir.path());
    let snaps = dir.path().join("snaps");
    // Paths sort as changed, fresh, other: accept, accept, reject.
    let (shown, code) = on_a_terminal(
        dir.path(),
        &["snapshots", "review", "snaps", "--color", "always"],
        b"aar",
    );
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        shown.contains("[1/3] changed snapshot of `changed`"),
        "{shown}"
    );
    assert!(shown.contains("[2/3] new snapshot of `fresh`"), "{shown}");
    // Removed lines red, added ones green, the changed words underlined in both.
    assert!(
        shown.contains("\x1b[31m-\x1b[0m\x1b[31m  \"principalId\": \x1b[0m"),
        "coloured diff: {shown}"
    );
    assert!(
        shown.contains("\x1b[4m\x1b[31m\"before\"\x1b[0m"),
        "{shown}"
    );
    assert!(
        shown.contains("\x1b[32m+\x1b[0m\x1b[32m  \"principalId\": \x1b[0m"),
        "{shown}"
    );
    assert!(shown.contains("\x1b[4m\x1b[32m\"after\"\x1b[0m"), "{shown}");
    assert!(
        shown.contains("2 accepted, 1 rejected, 0 skipped"),
        "{shown}"
    );
    assert_eq!(
        principal_of(&snaps.join("changed.snap")).as_deref(),
        Some("after")
    );
    assert_eq!(
        principal_of(&snaps.join("fresh.snap")).as_deref(),
        Some("first")
    );
    assert_eq!(
        principal_of(&snaps.join("other.snap")).as_deref(),
        Some("kept")
    );
    assert!(!snaps.join("other.snap.new").exists());

    // Skip and quit leave the rest pending.
    pending_snapshots(dir.path());
    let (shown, code) = on_a_terminal(dir.path(), &["snapshots", "review", "snaps"], b"sq");
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        shown.contains("0 accepted, 0 rejected, 1 skipped, 2 not reviewed"),
        "{shown}"
    );
    assert!(snaps.join("changed.snap.new").exists());

    // Without a terminal, review refuses and names the commands for scripts.
    let out = support::authprobe_command()
        .args(["snapshots", "review", "snaps"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_one_line_error(&out, &["needs a terminal", "snapshots accept"]);
}

#[test]
fn snapshots_accept_reject_list_and_prune_work_without_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    pending_snapshots(dir.path());
    let snaps = dir.path().join("snaps");
    let run = |args: &[&str]| {
        support::authprobe_command()
            .args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let listed = run(&["snapshots", "list", "snaps"]);
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    assert!(
        stdout(&listed).contains("snaps  2 accepted, 3 pending  (builtin:jwks)"),
        "{}",
        stdout(&listed)
    );
    let accepted = run(&["snapshots", "accept", "snaps", "--case", "changed,fresh"]);
    assert!(
        stdout(&accepted).contains("2 snapshot(s) accepted"),
        "{}",
        stdout(&accepted)
    );
    assert_eq!(
        principal_of(&snaps.join("changed.snap")).as_deref(),
        Some("after")
    );
    let rejected = run(&["snapshots", "reject", "snaps"]);
    assert!(
        stdout(&rejected).contains("1 snapshot(s) rejected"),
        "{}",
        stdout(&rejected)
    );
    assert_eq!(
        principal_of(&snaps.join("other.snap")).as_deref(),
        Some("kept")
    );
    let none = run(&["snapshots", "accept", "snaps"]);
    assert!(
        stdout(&none).contains("no pending snapshots"),
        "{}",
        stdout(&none)
    );

    // `changed`, `fresh` and `other` are no cases of the jwks profile; `valid` is.
    std::fs::write(
        snaps.join("valid.snap"),
        authprobe::conform::snapshot::file::render(
            "builtin:jwks",
            "valid",
            &serde_json::json!({ "principalId": "u" }),
        ),
    )
    .unwrap();
    let dry = run(&["snapshots", "prune", "snaps", "--dry-run"]);
    assert!(
        stdout(&dry).contains("would remove 3 file(s), keep 0 unjudged"),
        "{}",
        stdout(&dry)
    );
    assert!(snaps.join("changed.snap").exists());
    let pruned = run(&["snapshots", "prune", "snaps"]);
    assert!(
        stdout(&pruned).contains("no case `changed` any more"),
        "{}",
        stdout(&pruned)
    );
    assert!(snaps.join("valid.snap").exists());
    assert!(!snaps.join("changed.snap").exists());
}

#[test]
fn the_case_list_answers_in_json_and_an_unknown_case_gets_a_did_you_mean() {
    let out = authprobe(&["conform", "--list", "--json", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cases: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&out)));
    let valid = cases
        .iter()
        .find(|c| c["name"] == "valid")
        .expect("the jwks profile has `valid`");
    assert_eq!(valid["expect"], "allow");
    assert!(cases.iter().any(|c| c["expect"] == "reject"));
    assert_one_line_error(
        &authprobe(&["conform", "--case", "vaild", "--no-snapshots"]),
        &["--case vaild matches no case", "did you mean `valid`?"],
    );
}

/// What bash offers after `line` (the last word is the one being completed), with authprobe's
/// own completion script sourced, as a user's shell would.
fn bash_completes(line: &str) -> Vec<String> {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_authprobe"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    let script = format!(
        r#"source <(authprobe completions bash)
COMP_WORDS=({line}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); COMP_TYPE=9
_clap_complete_authprobe authprobe "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#
    );
    let output = Command::new("bash")
        .args(["-c", &script])
        .env("PATH", format!("{bin}:{}", std::env::var("PATH").unwrap()))
        .env_remove("AUTHPROBE_COMPLETE")
        .output()
        .expect("bash runs");
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).lines().map(str::to_string).collect()
}

#[test]
fn bash_completes_the_case_names_of_the_profile_on_the_line_and_every_token_kind() {
    let static_cases = bash_completes("authprobe conform --profile static --case ''");
    assert_eq!(
        static_cases,
        [
            "allow-token",
            "wrong-static-token",
            "empty-header",
            "valid-again",
            "header-case",
            "missing-header",
            "cached-deny",
            "cache-key"
        ]
    );
    // No profile on the line: conform's default, jwks.
    let kid_cases = bash_completes("authprobe conform --case kid-");
    assert!(
        kid_cases.contains(&"kid-unknown".to_string()),
        "{kid_cases:?}"
    );
    assert!(
        kid_cases.iter().all(|c| c.starts_with("kid-")),
        "{kid_cases:?}"
    );
    let kinds = bash_completes("authprobe token mint alg-none");
    assert!(kinds.contains(&"alg-none-upper".to_string()), "{kinds:?}");
    let targets = bash_completes("authprobe conform --target builtin:");
    assert!(
        targets.contains(&"builtin:cognito".to_string()),
        "{targets:?}"
    );
    let profiles = bash_completes("authprobe conform --profile ''");
    assert_eq!(profiles, ["static", "hs256", "jwks", "cognito"]);
    let scenarios = bash_completes("authprobe load --scenario cache");
    assert_eq!(scenarios, ["cache-benefit"]);
}
