//! Drives a plugin through the C entry points `declare_plugin!` exports, in-process, with a
//! fake host: every callback, panics at each of them, error messages and their truncation,
//! batches, unknown kinds, subscriptions, logging and config.

use slipstream_plugin::testing::{FakeHost, TestPlugin};
use slipstream_plugin::{
    bail, declare_plugin, ffi, host, host::Level, BroadcastEvent, BroadcastEventKind, Context, MessageError, Result,
    SlipstreamPlugin,
};
use std::sync::{Arc, Mutex};

/// A plugin whose behaviour the config chooses:
/// - `events`: comma-separated kind names (default: all);
/// - `panic_in`: `on_load` | `on_broadcast` | `on_unload` | `subscribed_events` | `drop`;
/// - `fail_in`: `on_load` | `on_broadcast` (return an error instead) | `on_broadcast_empty`
///   (return an error whose message is empty);
/// - `db`: read with `host::config_path` in `on_load` and recorded in `load_info`;
/// - `message`: the panic/error message (default "boom");
/// - `only_height`: panic/fail only for events of this height;
/// - `resume`: what `resume_height` returns: a number, `none` (default), `fail`, `panic`.
///   `panic_in: resume_height` panics there too.
#[derive(Debug, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<String>>>,
    subs: Vec<BroadcastEventKind>,
    panic_in: String,
    fail_in: String,
    message: String,
    only_height: Option<u32>,
    resume: String,
    load_info: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn with_log(seen: Arc<Mutex<Vec<String>>>) -> Recorder {
        let mut r = Recorder::default();
        r.seen = seen;
        r
    }

    fn hits(&self, height: u32) -> bool {
        self.only_height.is_none_or(|h| h == height)
    }
}

impl SlipstreamPlugin for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    fn on_load(&mut self, config_file: &str, is_reload: bool) -> Result<()> {
        self.load_info.lock().unwrap().push(format!("{config_file} reload={is_reload}"));
        self.subs = match host::config("events") {
            Some(list) => list
                .split(',')
                .map(|n| BroadcastEventKind::parse(n.trim()).with_context(|| format!("unknown kind {n}")))
                .collect::<Result<_>>()?,
            None => BroadcastEventKind::ALL.to_vec(),
        };
        self.panic_in = host::config("panic_in").unwrap_or_default();
        self.fail_in = host::config("fail_in").unwrap_or_default();
        self.message = host::config("message").unwrap_or_else(|| "boom".into());
        self.only_height = host::config("only_height").map(|h| h.parse()).transpose()?;
        self.resume = host::config("resume").unwrap_or_else(|| "none".into());
        if let Some(db) = host::config_path("db") {
            self.load_info.lock().unwrap().push(format!("db={}", db.display()));
        }
        slipstream_plugin::info!("loaded {config_file}");
        if self.panic_in == "on_load" {
            panic!("{}", self.message);
        }
        if self.fail_in == "on_load" {
            let io = std::io::Error::other(self.message.clone());
            return Err(io).context("cannot open the database");
        }
        Ok(())
    }

    fn on_unload(&mut self) {
        host::log(Level::Debug, "unloading");
        if self.panic_in == "on_unload" {
            panic!("{}", self.message);
        }
    }

    fn subscribed_events(&self) -> &[BroadcastEventKind] {
        if self.panic_in == "subscribed_events" {
            panic!("{}", self.message);
        }
        &self.subs
    }

    fn resume_height(&self) -> Result<Option<u64>> {
        if self.panic_in == "resume_height" {
            panic!("{}", self.message);
        }
        match self.resume.as_str() {
            "none" => Ok(None),
            "fail" => Err(std::io::Error::other(self.message.clone())).context("cannot read the position"),
            n => Ok(Some(n.parse()?)),
        }
    }

    fn on_broadcast(&self, event: BroadcastEvent<'_>) -> Result<()> {
        self.seen.lock().unwrap().push(format!("{event:?}"));
        let h = event.block_height();
        if self.panic_in == "on_broadcast" && self.hits(h) {
            panic!("{} at height {h}", self.message);
        }
        if self.fail_in == "on_broadcast" && self.hits(h) {
            bail!("{} at height {h}", self.message);
        }
        if self.fail_in == "on_broadcast_empty" && self.hits(h) {
            return Err(MessageError(String::new()).into());
        }
        Ok(())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        host::log(Level::Trace, "dropped");
        if self.panic_in == "drop" && !std::thread::panicking() {
            panic!("{}", self.message);
        }
    }
}

declare_plugin!(Recorder::default());

fn events() -> Vec<BroadcastEvent<'static>> {
    vec![
        BroadcastEvent::MappingUpdate {
            program_id: b"credits.aleo",
            mapping_name: b"account",
            key: &[1, 2, 3],
            value: &[0, 0, 0, 0, 0, 0, 0, 9],
            block_height: 10,
        },
        BroadcastEvent::MappingRemoval {
            program_id: b"credits.aleo",
            mapping_name: b"account",
            key: Some(&[1, 2, 3]),
            block_height: 10,
        },
        BroadcastEvent::MappingRemoval { program_id: b"p.aleo", mapping_name: b"m", key: None, block_height: 11 },
        BroadcastEvent::StakingReward {
            staker: b"aleo1staker",
            validator: b"aleo1validator",
            reward: 17,
            new_stake: 10_000_017,
            block_height: 11,
        },
        BroadcastEvent::Block { block: &[0xde, 0xad, 0xbe, 0xef], block_height: 11 },
    ]
}

/// The error of loading a [`Recorder`] with config. The plugin is dropped after the failed
/// load, which only destroys it (no on_unload), as the host does.
fn load_error(config: &[(&str, &str)]) -> String {
    let host = FakeHost::new();
    for (k, v) in config {
        host.set_config(k, v);
    }
    let mut p = TestPlugin::new(Recorder::default(), &host);
    p.load("/c.json", false).unwrap_err()
}

fn debug_all(evs: &[BroadcastEvent<'_>]) -> Vec<String> {
    evs.iter().map(|e| format!("{e:?}")).collect()
}

#[test]
fn exported_entry_points_and_vtable() {
    assert_eq!(slipstream_abi_version(), ffi::SLIPSTREAM_ABI_VERSION);
    let p = _create_plugin();
    assert!(!p.is_null());
    let vt = unsafe { &*(*p).vtable };
    assert_eq!(vt.struct_size as usize, std::mem::size_of::<ffi::SlipstreamPluginVtable>());
    assert_eq!(vt.struct_size, 72, "an ABI 1.1 vtable");
    assert_eq!((vt.abi_major, vt.abi_minor), (1, 1));
    assert!(vt.resume_height.is_some());
    assert!(vt.name.is_some() && vt.destroy.is_some() && vt.on_load.is_some() && vt.on_unload.is_some());
    assert!(vt.subscribed_events.is_some() && vt.on_broadcast.is_some() && vt.on_broadcast_batch.is_some());
    unsafe { (vt.destroy.unwrap())(p) };

    let host = FakeHost::new();
    let mut p = TestPlugin::from_create_fn(_create_plugin, &host).unwrap();
    assert_eq!(p.name(), "recorder");
    p.load("/etc/slipstream/recorder.json", false).unwrap();
    assert_eq!(p.subscribed_events(), ffi::SLIPSTREAM_MASK_ALL);
    for ev in events() {
        p.broadcast(&ev).unwrap();
    }
    p.broadcast_batch(&events()).unwrap();
    p.unload();
    assert!(host.logged(Level::Info, "loaded /etc/slipstream/recorder.json"));
    assert!(host.logged(Level::Debug, "unloading"));
    assert!(host.logged(Level::Trace, "dropped"));
}

#[test]
fn events_arrive_intact_singly_and_in_batches() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let host = FakeHost::new();
    let mut p = TestPlugin::new(Recorder::with_log(seen.clone()), &host);
    p.load("/c.json", true).unwrap();
    for ev in events() {
        p.broadcast(&ev).unwrap();
    }
    assert_eq!(*seen.lock().unwrap(), debug_all(&events()));
    seen.lock().unwrap().clear();
    p.broadcast_batch(&events()).unwrap();
    assert_eq!(*seen.lock().unwrap(), debug_all(&events()));
}

#[test]
fn on_load_gets_path_reload_flag_and_config() {
    let info = Arc::new(Mutex::new(Vec::new()));
    let host = FakeHost::new();
    host.set_config("events", "Block, mapping_update");
    let mut r = Recorder::default();
    r.load_info = info.clone();
    let mut p = TestPlugin::new(r, &host);
    p.load("/x/y.json", true).unwrap();
    assert_eq!(*info.lock().unwrap(), vec!["/x/y.json reload=true".to_string()]);
    assert_eq!(
        p.subscribed_events(),
        ffi::slipstream_mask(ffi::SLIPSTREAM_EVENT_BLOCK) | ffi::slipstream_mask(ffi::SLIPSTREAM_EVENT_MAPPING_UPDATE)
    );
    // Outside on_load, config is unavailable.
    assert_eq!(host::config("events"), None);
    assert_eq!(host::config_json(), None);
}

#[test]
fn unsubscribed_and_unknown_kinds_are_skipped() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let host = FakeHost::new();
    host.set_config("events", "Block");
    let mut p = TestPlugin::new(Recorder::with_log(seen.clone()), &host);
    p.load("/c.json", false).unwrap();
    assert_eq!(p.subscribed_events(), ffi::slipstream_mask(ffi::SLIPSTREAM_EVENT_BLOCK));
    for ev in events() {
        p.broadcast(&ev).unwrap();
    }
    let mut raw = events()[4].to_raw();
    raw.kind = 99; // a kind from a newer ABI minor
    p.broadcast_raw(&raw).unwrap();
    assert_eq!(*seen.lock().unwrap(), debug_all(&events()[4..]));
}

#[test]
fn panic_in_on_broadcast_is_an_error_with_the_message_and_delivery_goes_on() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let host = FakeHost::new();
    host.set_config("panic_in", "on_broadcast").set_config("only_height", "10");
    let mut p = TestPlugin::new(Recorder::with_log(seen.clone()), &host);
    p.load("/c.json", false).unwrap();
    let evs = events();
    let err = p.broadcast(&evs[0]).unwrap_err();
    assert!(err.starts_with("panic in on_broadcast: boom at height 10"), "{err}");
    assert!(err.contains("entry_points.rs:"), "location missing: {err}");
    // The instance still works after the panic.
    p.broadcast(&evs[4]).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);

    // In a batch: every event is still delivered, one error is reported for the batch.
    seen.lock().unwrap().clear();
    let err = p.broadcast_batch(&evs).unwrap_err();
    assert!(err.starts_with("panic in on_broadcast: boom at height 10"), "{err}");
    assert!(err.ends_with("(and 1 more failed events in this batch of 5)"), "{err}");
    assert_eq!(*seen.lock().unwrap(), debug_all(&evs));
}

#[test]
fn errors_carry_their_chain() {
    assert_eq!(load_error(&[("fail_in", "on_load"), ("message", "disk full")]), "cannot open the database: disk full");

    let host = FakeHost::new();
    host.set_config("fail_in", "on_broadcast");
    let mut p = TestPlugin::new(Recorder::default(), &host);
    p.load("/c.json", false).unwrap();
    assert_eq!(p.broadcast(&events()[3]).unwrap_err(), "boom at height 11");
}

#[test]
fn empty_messages_read_no_message() {
    // An error with an empty message, singly and in a batch.
    let host = FakeHost::new();
    host.set_config("fail_in", "on_broadcast_empty");
    let mut p = TestPlugin::new(Recorder::default(), &host);
    p.load("/c.json", false).unwrap();
    assert_eq!(p.broadcast(&events()[3]).unwrap_err(), "(no message)");
    assert_eq!(p.broadcast_batch(&events()).unwrap_err(), "(no message) (and 4 more failed events in this batch of 5)");
    // An error chain of empty messages.
    assert_eq!(load_error(&[("fail_in", "on_load"), ("message", "")]), "cannot open the database");
    // A panic with an empty message: see panic_in_on_load_fails_the_load.
}

#[test]
fn config_path_is_relative_to_the_config_file() {
    for (value, want) in [
        ("history.db", "db=/etc/slipstream/history.db"),
        ("data/h.db", "db=/etc/slipstream/data/h.db"),
        ("/var/lib/h.db", "db=/var/lib/h.db"),
        ("", "db="),
    ] {
        let info = Arc::new(Mutex::new(Vec::new()));
        let host = FakeHost::new();
        host.set_config("db", value);
        let mut r = Recorder::default();
        r.load_info = info.clone();
        let mut p = TestPlugin::new(r, &host);
        p.load("/etc/slipstream/recorder.json5", false).unwrap();
        assert_eq!(info.lock().unwrap()[1], want, "{value:?}");
    }
    // Absent key: None.
    let info = Arc::new(Mutex::new(Vec::new()));
    let host = FakeHost::new();
    let mut r = Recorder::default();
    r.load_info = info.clone();
    let mut p = TestPlugin::new(r, &host);
    p.load("/etc/slipstream/recorder.json5", false).unwrap();
    assert_eq!(info.lock().unwrap().len(), 1);
    // Outside on_load: None.
    assert_eq!(host::config_path("db"), None);
}

#[test]
fn logging_macros_format_and_reach_the_host() {
    #[derive(Debug)]
    struct Chatty;
    impl SlipstreamPlugin for Chatty {
        fn name(&self) -> &str {
            "chatty"
        }
        fn on_load(&mut self, config_file: &str, _: bool) -> Result<()> {
            let n = 3;
            slipstream_plugin::trace!("t {n}");
            slipstream_plugin::debug!("d {}", n + 1);
            slipstream_plugin::info!("i {config_file}");
            slipstream_plugin::warn!("w {n:>3}");
            slipstream_plugin::error!("e {:?}", "x");
            slipstream_plugin::log!(Level::Info, "l {n}");
            let h = host::current().expect("a host during on_load");
            slipstream_plugin::warn!(host: h, "via handle {n}");
            slipstream_plugin::log!(host: h, Level::Debug, "log via handle");
            Ok(())
        }
    }
    let host = FakeHost::new();
    let mut p = TestPlugin::new(Chatty, &host);
    p.load("/c.json", false).unwrap();
    let want: Vec<(i32, String)> = [
        (Level::Trace, "t 3"),
        (Level::Debug, "d 4"),
        (Level::Info, "i /c.json"),
        (Level::Warn, "w   3"),
        (Level::Error, "e \"x\""),
        (Level::Info, "l 3"),
        (Level::Warn, "via handle 3"),
        (Level::Debug, "log via handle"),
    ]
    .iter()
    .map(|(l, m)| (*l as i32, m.to_string()))
    .collect();
    assert_eq!(host.logs(), want);
}

#[test]
fn resume_height_through_the_c_entry_point() {
    for (resume, want) in [
        ("none", Ok(0)),
        ("0", Ok(0)),
        ("1", Ok(1)),
        ("4294967296", Ok(1 << 32)),
        ("18446744073709551615", Ok(u64::MAX)),
        ("fail", Err("cannot read the position: boom".to_string())),
    ] {
        let host = FakeHost::new();
        host.set_config("resume", resume);
        let mut p = TestPlugin::from_create_fn(_create_plugin, &host).unwrap();
        p.load("/c.json", false).unwrap();
        assert_eq!(p.resume_height(), want, "resume {resume}");
        p.unload();
    }
}

#[test]
fn resume_height_default_and_raw_calls() {
    // The trait's default: no position kept, which the C entry point reports as 0.
    #[derive(Debug)]
    struct Plain;
    impl SlipstreamPlugin for Plain {
        fn name(&self) -> &str {
            "plain"
        }
    }
    let host = FakeHost::new();
    let mut p = TestPlugin::new(Plain, &host);
    p.load("/c.json", false).unwrap();
    assert_eq!(p.resume_height(), Ok(0));

    // The raw function pointer: *height written on success, left alone on error; NULL height
    // is an error, not a crash.
    let f = unsafe { (*(*p.as_ptr()).vtable).resume_height.unwrap() };
    let mut buf = [0u8; 64];
    let mut err = ffi::SlipstreamError { buf: buf.as_mut_ptr().cast(), cap: buf.len() as u64 };
    let mut h = 99u64;
    assert_eq!(unsafe { f(p.as_ptr(), &mut h, &mut err) }, ffi::SLIPSTREAM_OK);
    assert_eq!(h, 0);
    assert_eq!(unsafe { f(p.as_ptr(), std::ptr::null_mut(), &mut err) }, ffi::SLIPSTREAM_ERROR);
    let msg = std::ffi::CStr::from_bytes_until_nul(&buf).unwrap().to_str().unwrap();
    assert!(msg.contains("NULL"), "{msg}");
    p.unload();

    let host = FakeHost::new();
    host.set_config("resume", "fail");
    let mut p = TestPlugin::new(Recorder::default(), &host);
    p.load("/c.json", false).unwrap();
    let f = unsafe { (*(*p.as_ptr()).vtable).resume_height.unwrap() };
    let mut h = 99u64;
    assert_eq!(unsafe { f(p.as_ptr(), &mut h, &mut err) }, ffi::SLIPSTREAM_ERROR);
    assert_eq!(h, 99, "*height untouched on error");
    p.unload();
}

#[test]
fn panic_in_resume_height_is_an_error_and_the_plugin_unloads() {
    let host = FakeHost::new();
    host.set_config("panic_in", "resume_height").set_config("message", "lost my place");
    let mut p = TestPlugin::new(Recorder::default(), &host);
    p.load("/c.json", false).unwrap();
    let err = p.resume_height().unwrap_err();
    assert!(err.starts_with("panic in resume_height: lost my place (at "), "{err}");
    // As the host does after a failed resume_height: on_unload, then destroy.
    p.unload();
    assert!(host.logged(Level::Debug, "unloading"));
    assert!(host.logged(Level::Trace, "dropped"));
}

#[test]
fn panic_in_on_load_fails_the_load() {
    for (message, want) in [
        ("bad config", "panic in on_load: bad config (at "),
        ("", "panic in on_load: (no message) (at "), // an empty message reads "(no message)"
    ] {
        let err = load_error(&[("panic_in", "on_load"), ("message", message)]);
        assert!(err.starts_with(want), "{message:?}: {err}");
    }
}

#[test]
fn panics_without_an_error_return_are_logged() {
    for (at, expect) in [
        ("on_unload", "panic in on_unload: boom"),
        ("drop", "panic in destroy: boom"),
        ("subscribed_events", "panic in subscribed_events: boom"),
    ] {
        let host = FakeHost::new();
        host.set_config("panic_in", at);
        let mut p = TestPlugin::new(Recorder::default(), &host);
        p.load("/c.json", false).unwrap();
        if at == "subscribed_events" {
            assert_eq!(p.subscribed_events(), 0);
        }
        p.unload();
        assert!(host.logged(Level::Error, expect), "{at}: {:?}", host.logs());
    }
}

#[test]
fn error_messages_are_truncated_on_utf8_boundaries() {
    let msg = "ошибка-€-😀"; // 2-, 3- and 4-byte characters
    for cap in 1..=40 {
        let host = FakeHost::new();
        host.set_config("fail_in", "on_broadcast").set_config("message", msg);
        let mut p = TestPlugin::new(Recorder::default(), &host);
        p.load("/c.json", false).unwrap();
        p.set_error_capacity(cap);
        // The harness checks: NUL within cap, nothing written past cap, valid UTF-8.
        let err = p.broadcast(&events()[4]).unwrap_err();
        let full = format!("{msg} at height 11");
        assert!(full.starts_with(&err), "cap {cap}: {err:?}");
        assert!(err.len() < cap);
        assert!(err.len() + 4 > cap.min(full.len() + 1) - 1, "cap {cap}: cut too short: {err:?}");
    }
}

#[test]
fn host_handle_logs_from_threads_and_goes_quiet_after_destroy() {
    #[derive(Debug, Default)]
    struct Threaded {
        handle: Arc<Mutex<Option<host::Host>>>,
    }
    impl SlipstreamPlugin for Threaded {
        fn name(&self) -> &str {
            "threaded"
        }
        fn on_load(&mut self, _: &str, _: bool) -> Result<()> {
            let h = host::current().expect("a host during on_load");
            let t = h.clone();
            std::thread::spawn(move || t.log(Level::Warn, "from a plugin thread")).join().unwrap();
            *self.handle.lock().unwrap() = Some(h);
            Ok(())
        }
    }
    let handle = Arc::new(Mutex::new(None));
    let host = FakeHost::new();
    let mut p = TestPlugin::new(Threaded { handle: handle.clone() }, &host);
    p.load("/c.json", false).unwrap();
    assert!(host.logged(Level::Warn, "from a plugin thread"));
    // Keep the handle past destroy (what a leaked thread would do): it must become a no-op.
    let h = handle.lock().unwrap().clone().unwrap();
    assert!(h.is_valid());
    p.unload();
    let before = host.logs().len();
    assert!(!h.is_valid());
    h.log(Level::Error, "after destroy");
    assert_eq!(host.logs().len(), before);
}
