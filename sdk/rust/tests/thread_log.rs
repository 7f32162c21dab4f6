//! `host::log` from a thread the plugin started (no handle): it reaches the most recently
//! loaded live instance, and is a no-op once that instance is destroyed. A separate test
//! binary, because the fallback is process-wide.

use slipstream_plugin::host::{self, Level};
use slipstream_plugin::testing::{FakeHost, TestPlugin};
use slipstream_plugin::{Result, SlipstreamPlugin};

#[derive(Debug)]
struct Quiet;
impl SlipstreamPlugin for Quiet {
    fn name(&self) -> &str {
        "quiet"
    }
    fn on_load(&mut self, _: &str, _: bool) -> Result<()> {
        Ok(())
    }
}

#[test]
fn log_from_any_thread() {
    let host = FakeHost::new();
    // Before any instance is loaded: a no-op.
    std::thread::spawn(|| host::log(Level::Info, "nobody listens")).join().unwrap();
    let mut p = TestPlugin::new(Quiet, &host);
    p.load("/c.json", false).unwrap();
    std::thread::spawn(|| host::log(Level::Info, "hello from a thread")).join().unwrap();
    assert!(host.logged(Level::Info, "hello from a thread"));
    assert!(!host.logged(Level::Info, "nobody listens"));
    p.unload();
    let n = host.logs().len();
    std::thread::spawn(|| host::warn("after destroy")).join().unwrap();
    assert_eq!(host.logs().len(), n);
}
