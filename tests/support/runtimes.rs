//! The Node and Go examples, made ready once per target directory: `npm install` of
//! examples/node/jwks-rsa (aws-lambda-ric builds native code: cmake, autoconf, automake, libtool
//! and g++ must be installed, as `.ci/run` does), and `go build` of examples/go/golang-jwt
//! (golang-go and golang-github-golang-jwt-jwt-dev, from Debian). Safe across threads and test
//! binaries: a file lock lets one of them do the work while the others wait.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::python::{run, target_dir};

fn example(parts: &[&str]) -> PathBuf {
    parts.iter().fold(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        |p, s| p.join(s),
    )
}

/// Copies `files` of `from` into `<target>/<name>` and runs `build` there, unless a marker holding
/// the files' contents says it is done; returns that folder.
fn prepared(name: &str, from: &Path, files: &[&str], build: &[(&str, &[&str], &str)]) -> PathBuf {
    let target = target_dir();
    let dir = target.join(name);
    let marker = dir.join(".authprobe-prepared");
    let wanted: String = files
        .iter()
        .map(|f| fs::read_to_string(from.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    let lock_path = target.join(format!("{name}.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    if fs::read_to_string(&marker).is_ok_and(|m| m == wanted) {
        return dir;
    }
    fs::create_dir_all(&dir).unwrap();
    for f in files {
        fs::copy(from.join(f), dir.join(f)).unwrap();
    }
    for (program, args, what) in build {
        let mut command = Command::new(program);
        command.args(*args).current_dir(&dir);
        if *program == "go" {
            command
                .env("GO111MODULE", "off")
                .env("GOPATH", "/usr/share/gocode");
        }
        run(&mut command, what);
    }
    fs::write(&marker, wanted).unwrap();
    dir
}

/// The folder of examples/node/jwks-rsa with its `node_modules` installed.
pub fn node_jwks_rsa() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        prepared(
            "node-jwks-rsa",
            &example(&["node", "jwks-rsa"]),
            &["index.js", "package.json"],
            &[(
                "npm",
                &["install", "--no-audit", "--no-fund", "--foreground-scripts"],
                "install examples/node/jwks-rsa with npm (aws-lambda-ric's native build needs cmake, autoconf, automake, libtool and g++: .ci/run installs them)",
            )],
        )
    })
    .clone()
}

/// The folder of examples/go/golang-jwt with its `bootstrap` built.
pub fn go_golang_jwt() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        prepared(
            "go-golang-jwt",
            &example(&["go", "golang-jwt"]),
            &["main.go"],
            &[(
                "go",
                &["build", "-o", "bootstrap", "."],
                "build examples/go/golang-jwt (needs Debian's golang-go and golang-github-golang-jwt-jwt-dev: .ci/run installs them)",
            )],
        )
    })
    .clone()
}
