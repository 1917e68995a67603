//! The Autobahn WebSocket test suite against `echo_api`'s `GET /ws/echo`:
//! the cases of sections 1-7, 9 and 10 (framing, pings and pongs, reserved
//! bits, opcodes, fragmentation, UTF-8, close handling, limits and
//! performance, auto-fragmentation), run by `tests/autobahn.py` with
//! kosoku, a Python 3 runner for the Autobahn TestSuite's own case files.
//!
//! The test starts the `echo_api` binary on a port of its own, runs the
//! script against it, prints the script's summary (per section: how many
//! cases were OK, NON-STRICT, INFORMATIONAL, FAILED, ...; then every case
//! that was not OK) and fails when any case failed. A whole run takes
//! well under a minute on loopback.
//!
//! The script runs under `$AUTOBAHN_PYTHON`, or `python3` when that is
//! not set: an interpreter that has kosoku (`pip install kosoku`, in a
//! virtual environment or not). Without one the test is skipped with a
//! message, except when the `CI` environment variable is set: CI must run
//! it, so there it fails (`.ci/run` installs kosoku).
//!
//! Run it by hand (after `cargo build --examples`) with
//! `AUTOBAHN_PYTHON=PATH/bin/python cargo test --test autobahn -- --nocapture`,
//! or point the script at any running server:
//! `python3 tests/autobahn.py ws://127.0.0.1:PORT/ws/echo`.
#![cfg(unix)]

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::thread;
use std::time::Duration;
use support::Example;

/// How long the script lets the whole run take (its `--timeout`): far
/// longer than it ever takes (under a minute), because kosoku itself
/// waits forever on a server that accepts and says nothing.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// How long past [`RUN_TIMEOUT`] the script may take to report before it
/// is killed by its PID and the test fails.
const REPORT_FAILSAFE: Duration = Duration::from_secs(60);

/// The exit status by which the script says kosoku is not installed.
const SKIPPED: i32 = 77;

#[test]
fn echo_api_passes_the_autobahn_cases_of_sections_1_to_7_9_and_10() {
    // Section 9 sends messages of up to 16 MiB (9.1.6, 9.2.6) and a 4 MiB
    // message in 65,536 fragments (9.3.1, 9.4.1): /ws/echo accepts them.
    let mut server = Example::start("echo_api", &["--addr", "127.0.0.1:0"], Some("warn"));
    let url = format!("ws://{}/ws/echo", server.addr);

    let Some((code, summary)) = run_script(&url) else {
        return;
    };
    let (status, _, log) = server.stop("-TERM");
    println!("{summary}");
    if !log.is_empty() {
        println!("echo_api's log (warnings and errors):\n{log}");
    }
    assert_eq!(
        code,
        Some(0),
        "Autobahn cases failed against {url}: see the summary above"
    );
    assert!(status.success(), "echo_api exited with {status:?}:\n{log}");
}

/// Runs `tests/autobahn.py URL` under a watchdog and returns its exit
/// code and everything it printed; `None` (the test skips) when there is
/// no Python or no kosoku, which CI does not allow.
fn run_script(url: &str) -> Option<(Option<i32>, String)> {
    let python = std::env::var("AUTOBAHN_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/autobahn.py");
    let spawned = Command::new(&python)
        .arg(script)
        .arg(url)
        .arg("--timeout")
        .arg(RUN_TIMEOUT.as_secs().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            skip(&format!(
                "cannot run {python} ({e}); set AUTOBAHN_PYTHON to a Python that has kosoku"
            ));
            return None;
        }
    };

    // Both pipes are drained while it runs, so that neither can fill up
    // and stall it.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let err = thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });

    let pid = child.id().to_string();
    let (done, waiting) = channel::<()>();
    let watchdog = thread::spawn(move || {
        if waiting.recv_timeout(RUN_TIMEOUT + REPORT_FAILSAFE).is_err() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            return true;
        }
        false
    });
    let status = child.wait().unwrap();
    let _ = done.send(());
    let killed = watchdog.join().unwrap();
    let printed = format!("{}{}", out.join().unwrap(), err.join().unwrap());
    assert!(
        !killed,
        "the Autobahn run did not end; killed it:\n{printed}"
    );

    if status.code() == Some(SKIPPED) {
        skip(printed.trim());
        return None;
    }
    Some((status.code(), printed))
}

/// Says why the test skips; fails instead where the `CI` environment
/// variable is set.
fn skip(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{why}; CI must not skip the Autobahn cases"
    );
    eprintln!("skipping the Autobahn cases: {why}");
}
