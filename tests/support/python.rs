//! The Python side of the tests: the example authorizers under `examples/python/` and one
//! virtualenv to run them in, made on first use and kept in the target directory.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `lambda:VENV/bin/python -m awslambdaric app.handler`: an example under the real runtime
/// interface client (give the example's folder as the workdir).
pub fn example_target() -> authprobe::target::TargetSpec {
    authprobe::target::TargetSpec::Lambda(vec![
        venv_python().display().to_string(),
        "-m".into(),
        "awslambdaric".into(),
        "app.handler".into(),
    ])
}

/// The examples whose `requirements.txt` the virtualenv is made from.
const EXAMPLES: &[&str] = &["correct", "flawed", "jose-cognito"];

/// Written into the virtualenv last, holding the requirements it was made from: present and
/// equal to the current requirements means the virtualenv is complete and up to date.
const MARKER: &str = "authprobe-requirements.txt";

/// `<CARGO_MANIFEST_DIR>/examples/python/<name>`: the folder to run `python -m awslambdaric
/// app.handler` in.
pub fn example_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join("python")
        .join(name)
}

/// The python of `<target dir>/py-venv`, a virtualenv with awslambdaric, PyJWT, cryptography
/// and requests installed from PyPI (the versions the examples' `requirements.txt` pin).
///
/// The first call makes it; later calls, and later test runs, reuse it. Safe to call from many
/// threads and many test binaries at once: a file lock lets one of them do the work while the
/// others wait, and the marker written last tells a complete virtualenv from one a killed run
/// left half made. Panics with the output of the failed step (usually pip's) if it cannot be
/// made.
pub fn venv_python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(make_venv).clone()
}

/// The directory Cargo builds into: the test binary is `<target>/<profile>/deps/<name>`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    exe.ancestors()
        .nth(3)
        .unwrap_or_else(|| panic!("{} is not in <target>/<profile>/deps", exe.display()))
        .to_path_buf()
}

fn python_in(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// Every example's requirements, one after the other: what the marker must hold.
fn requirements() -> String {
    EXAMPLES
        .iter()
        .map(|name| {
            let path = example_dir(name).join("requirements.txt");
            fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        })
        .collect()
}

// `File::lock` is stable since Rust 1.89, one release after the crate's declared
// `rust-version`; only the tests use it.
fn make_venv() -> PathBuf {
    let target = target_dir();
    let venv = target.join("py-venv");
    let python = python_in(&venv);
    let marker = venv.join(MARKER);
    let wanted = requirements();

    // Held until `_lock` is dropped at the end of this function.
    let _lock = locked(&target.join("py-venv.lock"));

    if python.exists() && fs::read_to_string(&marker).is_ok_and(|m| m == wanted) {
        return python;
    }
    if venv.exists() {
        fs::remove_dir_all(&venv)
            .unwrap_or_else(|e| panic!("cannot remove the stale {}: {e}", venv.display()));
    }
    run(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        "create the virtualenv (is python3 with its venv module installed?)",
    );
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
    ]);
    for name in EXAMPLES {
        pip.arg("-r")
            .arg(example_dir(name).join("requirements.txt"));
    }
    run(&mut pip, "install the examples' requirements with pip");
    fs::write(&marker, wanted).unwrap_or_else(|e| panic!("cannot write {}: {e}", marker.display()));
    python
}

/// `path`, opened and locked exclusively: one test binary at a time gets past this, until the
/// file is dropped.
pub fn locked(path: &Path) -> fs::File {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    file.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
    file
}

/// Runs `command` to completion; panics with its output if it cannot start or fails.
pub fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot {what}: cannot run {command:?}: {e}"));
    if !output.status.success() {
        panic!(
            "cannot {what}: {command:?} exited with {}\n--- stdout\n{}\n--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }
}

/// The correct example behind `tests/fixtures/invoke/standin.py`, a Lambda invoke endpoint
/// (`POST /2015-03-31/functions/function/invocations`), trusting an IdP at a loopback port
/// fixed before the run, as a deployed function's or a container's environment is. Killed
/// when dropped.
pub struct InvokeStandIn {
    child: std::process::Child,
    /// Where the stand-in listens.
    pub port: u16,
    /// Where the run's IdP must listen (`--idp-addr 127.0.0.1:PORT`).
    pub idp_port: u16,
}

impl InvokeStandIn {
    /// Starts it and waits until it prints the port it listens on.
    pub fn start() -> InvokeStandIn {
        use std::io::BufRead;
        let idp_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{idp_port}");
        let mut child = Command::new(venv_python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invoke/standin.py"))
            .arg("app.handler")
            .current_dir(example_dir("correct"))
            .env("AUTH_PROFILE", "jwks")
            .env("JWKS_URL", format!("{base}/.well-known/jwks.json"))
            .env("ISSUER", &base)
            .env("AUDIENCE", "authprobe-api")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the Python stand-in starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the stand-in prints its port");
        InvokeStandIn {
            child,
            port,
            idp_port,
        }
    }
}

impl Drop for InvokeStandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
