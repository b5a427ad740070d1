//! The processes authprobe starts (`lambda:` handlers, `--token-cmd`), and everything they
//! start in turn, end when authprobe is done with them.
//!
//! Each child leads a process group of its own, so one signal reaches it and the
//! grandchildren that stay in its group. A grandchild that leaves the group (`setsid`, a
//! daemonising `fork`) is still found: every child gets a [`Marker`] in its environment, which
//! its descendants inherit, and on Linux [`Marker::kill_all`] ends every process whose
//! environment holds it. (A program that clears its environment and leaves its session is the
//! one that can escape; on macOS only the process group is ended.)

use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that marks a child and its descendants.
pub const MARKER_VAR: &str = "AUTHPROBE_CHILD";

/// A mark unique to one child: this process's id, a counter and random bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker(String);

impl Marker {
    /// A new, unique marker.
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut random = [0u8; 6];
        aws_lc_rs::rand::fill(&mut random).expect("system randomness");
        let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
        Marker(format!(
            "{}-{}-{random}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// `(MARKER_VAR, value)`, for a command's environment.
    pub fn env(&self) -> (String, String) {
        (MARKER_VAR.to_string(), self.0.clone())
    }

    /// Sends SIGKILL to every process that carries this marker, until none is left (a process
    /// may fork while it is being killed). Linux only; elsewhere it does nothing.
    pub fn kill_all(&self) {
        #[cfg(target_os = "linux")]
        {
            let needle = format!("{MARKER_VAR}={}", self.0).into_bytes();
            for _ in 0..10 {
                let found = marked(&needle);
                if found.is_empty() {
                    return;
                }
                for pid in found {
                    // SAFETY: kill(2) with a pid read from /proc; at worst the process is gone.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}

impl Default for Marker {
    fn default() -> Self {
        Marker::new()
    }
}

/// Processes (not zombies) whose environment holds `needle` as one whole entry.
#[cfg(target_os = "linux")]
fn marked(needle: &[u8]) -> Vec<i32> {
    let own = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == own {
            continue;
        }
        // Another user's process cannot be read: it cannot be ours either.
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ.split(|&b| b == 0).any(|var| var == needle) && !zombie(pid) {
            found.push(pid);
        }
    }
    found
}

#[cfg(target_os = "linux")]
fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// Sends SIGKILL to the process group `pgid` leads (a child started with
/// `process_group(0)`).
pub fn kill_group(pgid: u32) {
    if let Ok(pgid) = i32::try_from(pgid)
        && pgid > 0
    {
        // SAFETY: kill(2) on a process group this process made.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Ends a child's process group and every marked descendant when dropped: on every way out
/// of the code that started it, a timeout and a cancelled future included.
#[derive(Debug)]
pub struct Reaper {
    pgid: Option<u32>,
    marker: Marker,
}

impl Reaper {
    /// Watches the group `pgid` leads and the processes marked with `marker`.
    pub fn new(pgid: Option<u32>, marker: Marker) -> Self {
        Reaper { pgid, marker }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            kill_group(pgid);
        }
        self.marker.kill_all();
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_marked_grandchild_that_left_its_session_is_still_ended() {
        let marker = Marker::new();
        let (k, v) = marker.env();
        // The shell starts a grandchild in a session of its own, prints its pid and exits.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!")
            .env(&k, &v)
            .output()
            .unwrap();
        let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let alive = |pid: i32| std::fs::metadata(format!("/proc/{pid}")).is_ok() && !zombie(pid);
        assert!(alive(pid), "the grandchild runs");
        marker.kill_all();
        // SIGKILL is delivered before kill(2) returns; the reaping is init's, which a loaded
        // machine (the whole test suite at once) can leave for a while.
        let gone = (0..2000).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            !alive(pid)
        });
        assert!(gone, "the grandchild {pid} was ended");
    }
}
