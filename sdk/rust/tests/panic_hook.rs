//! The SDK's panic hook: a panic caught at an entry point writes nothing to stderr (the host
//! logs the error instead), unless `SLIPSTREAM_RUST_PANIC_STDERR=1`; a panic on a thread the
//! plugin spawned still reaches the previous hook (here Rust's default, which prints it).
//!
//! The hook is process-wide and installed once, so each scenario runs in a fresh child process:
//! this test binary itself, filtered to one `child_*` test, which does nothing unless
//! `CHILD_ENV` names its scenario. The parent checks the child's stderr.

use slipstream_plugin::testing::{FakeHost, TestPlugin};
use slipstream_plugin::{BroadcastEvent, BroadcastEventKind, Result, SlipstreamPlugin};
use std::process::Command;

/// Set (to the scenario name) only in the child processes.
const CHILD_ENV: &str = "SLIPSTREAM_PANIC_HOOK_TEST_CHILD";
/// What a child prints on stdout once its scenario has run to the end.
const DONE: &str = "panic-hook-child-done";

/// Panics in `on_broadcast` on every `Block`; on a `MappingRemoval`, spawns a thread named
/// `plugin-worker` that panics, and reports its failure as an error.
#[derive(Debug)]
struct Panicker;

impl SlipstreamPlugin for Panicker {
    fn name(&self) -> &str {
        "panicker"
    }
    fn subscribed_events(&self) -> &[BroadcastEventKind] {
        &BroadcastEventKind::ALL
    }
    fn on_broadcast(&self, event: BroadcastEvent<'_>) -> Result<()> {
        let h = event.block_height();
        match event {
            BroadcastEvent::Block { .. } => panic!("deliberate panic on Block at height {h}"),
            BroadcastEvent::MappingRemoval { .. } => {
                let worker = std::thread::Builder::new()
                    .name("plugin-worker".into())
                    .spawn(move || panic!("worker thread panic at height {h}"))?;
                match worker.join() {
                    Ok(()) => Ok(()),
                    Err(_) => Err("the worker thread panicked".into()),
                }
            }
            _ => Ok(()),
        }
    }
}

fn block(h: u32) -> BroadcastEvent<'static> {
    BroadcastEvent::Block { block: b"b", block_height: h }
}

fn removal(h: u32) -> BroadcastEvent<'static> {
    BroadcastEvent::MappingRemoval { program_id: b"p.aleo", mapping_name: b"m", key: None, block_height: h }
}

/// The child side: runs only when `CHILD_ENV` is `scenario`.
fn child(scenario: &str, body: impl FnOnce()) {
    if std::env::var(CHILD_ENV).as_deref() != Ok(scenario) {
        return;
    }
    body();
    println!("{DONE}");
}

/// Runs the test `test` of this binary in a child process with `CHILD_ENV=scenario` (and
/// `RUST_BACKTRACE=1`, so a printed panic would be loud) plus `env`; returns its stderr after
/// checking that it passed and ran to the end.
fn run_child(test: &str, scenario: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    // --nocapture: otherwise libtest captures what the default hook prints.
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, scenario)
        .env("RUST_BACKTRACE", "1")
        .env_remove("SLIPSTREAM_RUST_PANIC_STDERR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "child {scenario} failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    assert!(stdout.contains(DONE), "child {scenario} did not run its scenario\nstdout:\n{stdout}\nstderr:\n{stderr}");
    stderr
}

/// Two caught panics (one alone, one in a batch): the errors carry message and location.
fn broadcast_panics() {
    let host = FakeHost::new();
    let mut p = TestPlugin::new(Panicker, &host);
    p.load("/c.json", false).unwrap();
    let err = p.broadcast(&block(3)).unwrap_err();
    assert!(err.starts_with("panic in on_broadcast: deliberate panic on Block at height 3 (at "), "{err}");
    assert!(err.contains("panic_hook.rs:"), "location missing: {err}");
    let err = p.broadcast_batch(&[block(4), block(5)]).unwrap_err();
    assert!(err.starts_with("panic in on_broadcast: deliberate panic on Block at height 4 (at "), "{err}");
    assert!(err.ends_with("(and 1 more failed events in this batch of 2)"), "{err}");
    p.unload();
}

#[test]
fn child_quiet() {
    child("quiet", broadcast_panics);
}

#[test]
fn child_thread() {
    child("thread", || {
        let host = FakeHost::new();
        let mut p = TestPlugin::new(Panicker, &host);
        p.load("/c.json", false).unwrap();
        assert_eq!(p.broadcast(&removal(7)).unwrap_err(), "the worker thread panicked");
        let err = p.broadcast(&block(8)).unwrap_err();
        assert!(err.starts_with("panic in on_broadcast: deliberate panic on Block at height 8 (at "), "{err}");
        p.unload();
    });
}

#[test]
fn child_stderr() {
    child("stderr", broadcast_panics);
}

#[test]
fn caught_panic_in_on_broadcast_writes_nothing_to_stderr() {
    let stderr = run_child("child_quiet", "quiet", &[]);
    assert!(stderr.is_empty(), "stderr should be empty:\n{stderr}");
}

#[test]
fn panic_on_a_plugin_thread_reaches_the_previous_hook() {
    let stderr = run_child("child_thread", "thread", &[]);
    // "thread 'plugin-worker' panicked at" (newer std adds the thread id after the name).
    assert!(stderr.contains("thread 'plugin-worker'") && stderr.contains("panicked at"), "{stderr}");
    assert!(stderr.contains("worker thread panic at height 7"), "{stderr}");
    // The entry point's own (caught) panic stays quiet.
    assert!(!stderr.contains("deliberate panic"), "{stderr}");
}

#[test]
fn panic_stderr_env_prints_caught_panics_too() {
    let stderr = run_child("child_stderr", "stderr", &[("SLIPSTREAM_RUST_PANIC_STDERR", "1")]);
    for h in [3, 4, 5] {
        assert!(stderr.contains(&format!("deliberate panic on Block at height {h}")), "{stderr}");
    }
    assert!(stderr.contains("panicked at"), "{stderr}");
}
