//! The authorization matrix against examples/python/groups, a role-based Cognito authorizer
//! under its real runtime client: the correct mapping passes every cell in every pass, and the
//! flawed one is caught cell by cell with the right severity (the first group only, a reader's
//! Allow of every method of a path, an admin's Allow of exactly the method ARN asked for).

mod support;

use std::path::Path;

use support::authprobe_in;

/// `conform` with the example's group matrix, `MAPPING=mapping`; exit code, report.json and
/// what was printed.
fn run(dir: &Path, mapping: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    run_with(dir, "groups.toml", mapping, extra)
}

/// `conform` with the example's `profile` (groups.toml, scopes.toml) and `MAPPING=mapping`.
fn run_with(
    dir: &Path,
    profile: &str,
    mapping: &str,
    extra: &[&str],
) -> (Option<i32>, serde_json::Value, String) {
    let python = support::python::venv_python();
    let target = format!("lambda:{} -m awslambdaric app.handler", python.display());
    let workdir = support::python::example_dir("groups");
    let scenario = workdir.join(profile);
    let mapping = format!("MAPPING={mapping}");
    let claim = if profile == "scopes.toml" {
        "CLAIM=scope"
    } else {
        "CLAIM=cognito:groups"
    };
    let mut args = vec![
        "conform",
        "--scenario",
        scenario.to_str().unwrap(),
        "--target",
        &target,
        "--workdir",
        workdir.to_str().unwrap(),
        "--env",
        "JWKS_URL={jwks_url}",
        "--env",
        "ISSUER={issuer}",
        "--env",
        "CLIENT_ID={client_id}",
        "--env",
        &mapping,
        "--env",
        claim,
        "--report-dir",
        "reports",
    ];
    if !extra.contains(&"--snapshots") {
        args.push("--no-snapshots");
    }
    args.extend(extra);
    let out = authprobe_in(dir, &args, &[("COLUMNS", "100")]);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let report = std::fs::read_to_string(support::run_dir(dir).join("report.json"))
        .unwrap_or_else(|_| panic!("{shown}\n{}", String::from_utf8_lossy(&out.stderr)));
    (
        out.status.code(),
        serde_json::from_str(&report).unwrap(),
        shown,
    )
}

/// The severities of the case named `name`.
fn severities_of(report: &serde_json::Value, name: &str) -> Vec<String> {
    let case = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case `{name}`"));
    case["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_correct_group_mapping_passes_every_cell_in_both_orders_and_with_ttl_0() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report, shown) = run(dir.path(), "correct", &[]);
    assert_eq!(code, Some(0), "{shown}");
    let cells: Vec<&serde_json::Value> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "matrix")
        .collect();
    assert_eq!(cells.len(), 12, "4 principals by 3 routes");
    assert!(cells.iter().all(|c| c["status"] == "passed"), "{shown}");
    // Every pass ran for every principal, and the cached ones answered from the cache.
    let matrix = &report["matrix"];
    for row in matrix["principals"].as_array().unwrap() {
        let passes = row["observed"].as_array().unwrap();
        assert_eq!(passes.len(), 3, "{row}");
        let cached: usize = passes
            .iter()
            .map(|p| {
                p[1].as_array()
                    .unwrap()
                    .iter()
                    .filter(|s| s["cached"] == true)
                    .count()
            })
            .sum();
        assert_eq!(cached, 4, "two cached answers in each cached pass: {row}");
    }
    assert!(shown.contains("reader-admin  ✓ allow"), "{shown}");
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../docs/report.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let md = std::fs::read_to_string(support::run_dir(dir.path()).join("report.md")).unwrap();
    assert!(md.contains("## Authorization matrix"), "{md}");
}

#[test]
fn a_flawed_group_mapping_is_caught_cell_by_cell_with_the_right_severity() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report, shown) = run(dir.path(), "flawed", &[]);
    assert_eq!(code, Some(1), "{shown}");
    // The first group only: a reader and admin is refused the admin routes, with no cache.
    for cell in ["reader-admin DELETE /items", "reader-admin GET /admin"] {
        assert_eq!(
            severities_of(&report, cell),
            ["availability"],
            "{cell}: {shown}"
        );
    }
    // A reader's Allow of every method of /items: after GET /items is cached, DELETE gets in.
    assert_eq!(
        severities_of(&report, "reader DELETE /items"),
        ["security"],
        "{shown}"
    );
    let reader_delete = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "reader DELETE /items")
        .unwrap();
    assert!(
        reader_delete["detail"]
            .as_str()
            .unwrap()
            .contains("allow from the policy cached for GET /items"),
        "{reader_delete}"
    );
    // An admin's Allow of exactly the method ARN asked for: the next route is refused from
    // the cache, right with TTL 0.
    for cell in ["admin DELETE /items", "admin GET /admin"] {
        assert_eq!(
            severities_of(&report, cell),
            ["contract"],
            "{cell}: {shown}"
        );
    }
    // After a cached Deny of DELETE /items (the most privileged route, asked first), a reader
    // is refused GET /items until the cache expires: cache-dependent too.
    assert_eq!(
        severities_of(&report, "reader GET /items"),
        ["contract"],
        "{shown}"
    );
    // What no mapping mistake touches passes.
    for cell in [
        "nobody GET /items",
        "nobody DELETE /items",
        "reader GET /admin",
    ] {
        assert!(severities_of(&report, cell).is_empty(), "{cell}: {shown}");
    }
    // The grid shows the same: ✗ for the authorizer's own mistakes, ~ for the cache's.
    assert!(
        shown.contains("reader-admin  ~ deny      ✗ deny"),
        "{shown}"
    );
    assert!(shown.contains("~ allow"), "{shown}");
}

#[test]
fn case_patterns_pick_matrix_rows_and_a_pattern_matching_nothing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report, shown) = run(dir.path(), "correct", &["--case", "nobody *"]);
    assert_eq!(code, Some(0), "{shown}");
    let names: Vec<&str> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "nobody GET /items",
            "nobody DELETE /items",
            "nobody GET /admin"
        ]
    );
    let other = tempfile::tempdir().unwrap();
    let python = support::python::venv_python();
    let out = authprobe_in(
        other.path(),
        &[
            "conform",
            "--scenario",
            support::python::example_dir("groups")
                .join("groups.toml")
                .to_str()
                .unwrap(),
            "--target",
            &format!("lambda:{} -m awslambdaric app.handler", python.display()),
            "--case",
            "nobdy *",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("matches no case"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn scopes_read_as_a_list_instead_of_a_space_separated_string_never_grant_and_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report, shown) = run_with(dir.path(), "scopes.toml", "flawed", &[]);
    assert_eq!(code, Some(1), "{shown}");
    for cell in [
        "reader GET /items",
        "writer GET /items",
        "writer DELETE /items",
        "admin GET /admin",
    ] {
        assert_eq!(
            severities_of(&report, cell),
            ["availability"],
            "{cell}: {shown}"
        );
    }
    for cell in ["reader DELETE /items", "writer GET /admin"] {
        assert!(severities_of(&report, cell).is_empty(), "{cell}: {shown}");
    }
    let cause = report["causes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["cases"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n == "admin GET /admin")
        })
        .unwrap();
    assert!(
        cause["why"]
            .as_str()
            .unwrap()
            .contains("space-separated `scope` string"),
        "{cause}"
    );

    let dir = tempfile::tempdir().unwrap();
    let (code, _, shown) = run_with(dir.path(), "scopes.toml", "correct", &[]);
    assert_eq!(code, Some(0), "{shown}");
}

#[test]
fn the_observed_matrix_is_kept_as_snapshots_and_a_change_in_who_may_call_what_is_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    // The profile inside the run's folder (the repository here), so that `snapshots prune`
    // can read it back.
    let profile = dir.path().join("groups.toml");
    std::fs::copy(
        support::python::example_dir("groups").join("groups.toml"),
        &profile,
    )
    .unwrap();
    let profile = profile.to_str().unwrap();
    let run = |dir: &Path, mapping: &str, extra: &[&str]| run_with(dir, profile, mapping, extra);
    let snaps = ["--snapshots", "snaps"];
    let (code, report, shown) = run(dir.path(), "correct", &snaps);
    assert_eq!(code, Some(0), "{shown}");
    let cell = |report: &serde_json::Value, name: &str| {
        report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        cell(&report, "reader DELETE /items")["snapshot"]["status"],
        "new"
    );
    assert!(
        dir.path()
            .join("snaps/matrix.reader.DELETE_20_2Fitems.snap")
            .is_file()
    );
    // (One run folder at a time: each run's report is read back from it.)
    std::fs::remove_dir_all(dir.path().join("reports")).unwrap();
    let (code, report, shown) = run(dir.path(), "correct", &snaps);
    assert_eq!(code, Some(0), "{shown}");
    assert_eq!(
        cell(&report, "reader DELETE /items")["snapshot"]["status"],
        "matched"
    );
    // The flawed mapping changes who may call what: each changed cell is a regression too.
    std::fs::remove_dir_all(dir.path().join("reports")).unwrap();
    let (code, report, shown) = run(dir.path(), "flawed", &snaps);
    assert_eq!(code, Some(1), "{shown}");
    let changed = cell(&report, "reader DELETE /items");
    assert_eq!(changed["snapshot"]["status"], "changed", "{changed}");
    assert!(
        severities_of(&report, "reader DELETE /items").contains(&"regression".to_string()),
        "{shown}"
    );
    // `snapshots prune` knows the cells: nothing of the matrix is stale.
    let out = authprobe_in(
        dir.path(),
        &["snapshots", "prune", "snaps", "--dry-run"],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("matrix."), "{text}");
    // A principal taken out of the profile leaves its cells' snapshots stale.
    let edited = std::fs::read_to_string(dir.path().join("groups.toml"))
        .unwrap()
        .replace("name = \"nobody\"", "name = \"someone\"");
    std::fs::write(dir.path().join("groups.toml"), edited).unwrap();
    let out = authprobe_in(
        dir.path(),
        &["snapshots", "prune", "snaps", "--dry-run"],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("matrix.nobody.GET_20_2Fitems.snap"), "{text}");
    assert!(!text.contains("matrix.reader."), "{text}");
}
