//! A fake host, to test a plugin through its C entry points, in-process, the way the real host
//! calls them (through the vtable, with C structs, error buffers and a `slipstream_host`).
//!
//! ```
//! use slipstream_plugin::testing::{FakeHost, TestPlugin};
//! use slipstream_plugin::{BroadcastEvent, BroadcastEventKind, Result, SlipstreamPlugin};
//!
//! #[derive(Debug)]
//! struct Blocks;
//! impl SlipstreamPlugin for Blocks {
//!     fn name(&self) -> &'static str { "blocks" }
//!     fn subscribed_events(&self) -> &[BroadcastEventKind] { &[BroadcastEventKind::Block] }
//!     fn on_broadcast(&self, _event: BroadcastEvent<'_>) -> Result<()> { Ok(()) }
//! }
//!
//! let host = FakeHost::new();
//! let mut p = TestPlugin::new(Blocks, &host);
//! assert_eq!(p.name(), "blocks");
//! p.load("/etc/blocks.json", false).unwrap();
//! p.broadcast(&BroadcastEvent::Block { block: b"..", block_height: 1 }).unwrap();
//! p.unload();
//! ```
//!
//! For a library built with [`declare_plugin!`](crate::declare_plugin), pass its
//! `_create_plugin` to [`TestPlugin::from_create_fn`] instead.

use crate::event::BroadcastEvent;
use crate::ffi;
use crate::host::Level;
use crate::SlipstreamPlugin;
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;
use std::sync::Mutex;

struct Inner {
    host: ffi::SlipstreamHost,
    logs: Mutex<Vec<(i32, String)>>,
    config: Mutex<HashMap<String, String>>,
}

/// A `slipstream_host` that records log lines and serves config values from a map.
pub struct FakeHost {
    inner: Box<Inner>,
}

impl std::fmt::Debug for FakeHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHost").field("logs", &self.logs()).finish_non_exhaustive()
    }
}

impl Default for FakeHost {
    fn default() -> Self {
        FakeHost::new()
    }
}

impl FakeHost {
    /// A host with no config values.
    pub fn new() -> FakeHost {
        let mut inner = Box::new(Inner {
            host: ffi::SlipstreamHost {
                struct_size: std::mem::size_of::<ffi::SlipstreamHost>() as u32,
                reserved: 0,
                ctx: ptr::null_mut(),
                log: Some(fake_log),
                config_get: Some(fake_config_get),
            },
            logs: Mutex::new(Vec::new()),
            config: Mutex::new(HashMap::new()),
        });
        inner.host.ctx = &*inner as *const Inner as *mut c_void;
        FakeHost { inner }
    }

    /// Sets the text `host::config(key)` returns (as the real host would: strings unquoted,
    /// arrays and objects as JSON).
    pub fn set_config(&self, key: &str, value: &str) -> &Self {
        self.inner.config.lock().unwrap().insert(key.to_string(), value.to_string());
        self
    }

    /// The config as strict JSON (for `config_json`): every value as a JSON string.
    fn config_json(&self) -> String {
        let cfg = self.inner.config.lock().unwrap();
        let mut keys: Vec<_> = cfg.keys().collect();
        keys.sort();
        let parts: Vec<String> = keys.iter().map(|k| format!("{:?}:{:?}", k, cfg[*k])).collect();
        format!("{{{}}}", parts.join(","))
    }

    /// Every line logged so far, as `(SLIPSTREAM_LOG_* level, message)`.
    pub fn logs(&self) -> Vec<(i32, String)> {
        self.inner.logs.lock().unwrap().clone()
    }

    /// Whether some line at `level` contains `needle`.
    pub fn logged(&self, level: Level, needle: &str) -> bool {
        self.logs().iter().any(|(l, m)| *l == level as i32 && m.contains(needle))
    }

    /// The `slipstream_host` to pass in load args.
    pub fn as_ptr(&self) -> *const ffi::SlipstreamHost {
        &self.inner.host
    }
}

unsafe extern "C" fn fake_log(ctx: *mut c_void, level: i32, msg: *const c_char) {
    let inner = &*(ctx as *const Inner);
    let msg = if msg.is_null() { String::new() } else { CStr::from_ptr(msg).to_string_lossy().into_owned() };
    inner.logs.lock().unwrap_or_else(|e| e.into_inner()).push((level, msg));
}

unsafe extern "C" fn fake_config_get(ctx: *mut c_void, key: *const c_char, buf: *mut c_char, cap: u64) -> i64 {
    let inner = &*(ctx as *const Inner);
    let key = CStr::from_ptr(key).to_string_lossy();
    let cfg = inner.config.lock().unwrap_or_else(|e| e.into_inner());
    let Some(v) = cfg.get(key.as_ref()) else { return -1 };
    if !buf.is_null() && cap > 0 {
        let n = v.len().min(cap as usize - 1);
        ptr::copy_nonoverlapping(v.as_ptr(), buf as *mut u8, n);
        *buf.add(n) = 0;
    }
    v.len() as i64
}

/// A plugin instance driven through its vtable, like the real host does. Dropping it runs
/// `on_unload` (if loaded) and `destroy`.
pub struct TestPlugin<'h> {
    ptr: *mut ffi::SlipstreamPlugin,
    host: &'h FakeHost,
    loaded: bool,
    err_cap: usize,
}

impl std::fmt::Debug for TestPlugin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPlugin").field("loaded", &self.loaded).finish_non_exhaustive()
    }
}

impl<'h> TestPlugin<'h> {
    /// Creates an instance of `plugin` the way `_create_plugin` of `declare_plugin!` does.
    pub fn new<P: SlipstreamPlugin>(plugin: P, host: &'h FakeHost) -> TestPlugin<'h> {
        let ptr = crate::export::create_plugin(move || Box::new(plugin));
        assert!(!ptr.is_null(), "create_plugin returned NULL");
        // SAFETY: fresh from create_plugin.
        unsafe { TestPlugin::from_raw(ptr, host) }
    }

    /// Creates an instance with a library's `_create_plugin`; `None` if it returns NULL.
    pub fn from_create_fn(create: extern "C" fn() -> *mut ffi::SlipstreamPlugin, host: &'h FakeHost) -> Option<Self> {
        let ptr = create();
        // SAFETY: a non-NULL result of _create_plugin is a fresh instance.
        (!ptr.is_null()).then(|| unsafe { TestPlugin::from_raw(ptr, host) })
    }

    /// Wraps an instance.
    ///
    /// # Safety
    /// `ptr` must be a fresh, non-NULL result of a `_create_plugin`, owned by the result.
    pub unsafe fn from_raw(ptr: *mut ffi::SlipstreamPlugin, host: &'h FakeHost) -> TestPlugin<'h> {
        let vt = &*(*ptr).vtable;
        assert_eq!(vt.abi_major as u32, ffi::SLIPSTREAM_ABI_MAJOR);
        assert!(vt.struct_size as usize >= std::mem::size_of::<ffi::SlipstreamPluginVtable>());
        TestPlugin { ptr, host, loaded: false, err_cap: 256 }
    }

    fn vt(&self) -> &ffi::SlipstreamPluginVtable {
        // SAFETY: the vtable is valid until destroy, which only Drop calls.
        unsafe { &*(*self.ptr).vtable }
    }

    /// The raw instance pointer.
    pub fn as_ptr(&self) -> *mut ffi::SlipstreamPlugin {
        self.ptr
    }

    /// The capacity of the error buffers passed to the plugin (default 256).
    pub fn set_error_capacity(&mut self, cap: usize) {
        assert!(cap >= 1);
        self.err_cap = cap;
    }

    /// Calls `name`.
    pub fn name(&self) -> String {
        let f = self.vt().name.expect("name is required");
        // SAFETY: valid instance; the name is valid until destroy.
        unsafe { CStr::from_ptr(f(self.ptr)) }.to_string_lossy().into_owned()
    }

    /// Calls `on_load` with the host's config.
    pub fn load(&mut self, config_file: &str, is_reload: bool) -> Result<(), String> {
        let file = CString::new(config_file).unwrap();
        let json = CString::new(self.host.config_json()).unwrap();
        let args = ffi::SlipstreamLoadArgs {
            struct_size: std::mem::size_of::<ffi::SlipstreamLoadArgs>() as u32,
            is_reload: is_reload as u8,
            reserved: [0; 3],
            config_file: file.as_ptr(),
            config_json: json.as_ptr(),
            host: self.host.as_ptr(),
        };
        let Some(f) = self.vt().on_load else {
            self.loaded = true;
            return Ok(());
        };
        let r = self.call_with_error(|err| unsafe { f(self.ptr, &args, err) });
        self.loaded = r.is_ok();
        r
    }

    /// Calls `subscribed_events`.
    pub fn subscribed_events(&self) -> u64 {
        match self.vt().subscribed_events {
            // SAFETY: valid instance.
            Some(f) => unsafe { f(self.ptr) },
            None => 0,
        }
    }

    /// Calls `resume_height` (ABI 1.1), as the host does after `subscribed_events`: the height
    /// the plugin wrote (0 when the vtable has no `resume_height`), or its error message. The
    /// height passed in holds a marker value, so a plugin that returns OK without writing it
    /// shows as `u64::MAX`.
    pub fn resume_height(&mut self) -> Result<u64, String> {
        let Some(f) = self.vt().resume_height else { return Ok(0) };
        let mut height = u64::MAX;
        // SAFETY: valid instance; height and err live across the call.
        self.call_with_error(|err| unsafe { f(self.ptr, &mut height, err) })?;
        Ok(height)
    }

    /// Calls `on_broadcast` with the C view of `event`.
    pub fn broadcast(&mut self, event: &BroadcastEvent<'_>) -> Result<(), String> {
        self.broadcast_raw(&event.to_raw())
    }

    /// Calls `on_broadcast` with a C event (e.g. of an unknown kind).
    pub fn broadcast_raw(&mut self, event: &ffi::SlipstreamEvent) -> Result<(), String> {
        let f = self.vt().on_broadcast.expect("on_broadcast is set");
        self.call_with_error(|err| unsafe { f(self.ptr, event, err) })
    }

    /// Calls `on_broadcast_batch` with the C views of `events`.
    pub fn broadcast_batch(&mut self, events: &[BroadcastEvent<'_>]) -> Result<(), String> {
        let raw: Vec<ffi::SlipstreamEvent> = events.iter().map(BroadcastEvent::to_raw).collect();
        let f = self.vt().on_broadcast_batch.expect("on_broadcast_batch is set");
        self.call_with_error(|err| unsafe { f(self.ptr, raw.as_ptr(), raw.len() as u64, err) })
    }

    /// Calls `on_unload` (if loaded), then `destroy`.
    pub fn unload(self) {
        drop(self)
    }

    /// Runs a callback with a fresh error buffer holding `""`; returns its message on failure.
    fn call_with_error(&self, f: impl FnOnce(*mut ffi::SlipstreamError) -> i32) -> Result<(), String> {
        // Guard bytes past cap catch overruns.
        let mut buf = vec![0xAAu8; self.err_cap + 16];
        buf[0] = 0;
        let mut err = ffi::SlipstreamError { buf: buf.as_mut_ptr() as *mut c_char, cap: self.err_cap as u64 };
        let rc = f(&mut err);
        assert!(buf[self.err_cap..].iter().all(|b| *b == 0xAA), "plugin wrote past the error buffer");
        let msg = CStr::from_bytes_until_nul(&buf[..self.err_cap]).expect("error message is NUL-terminated within cap");
        let msg = msg.to_str().expect("error message is valid UTF-8").to_string();
        if rc == ffi::SLIPSTREAM_OK {
            Ok(())
        } else {
            Err(msg)
        }
    }
}

impl Drop for TestPlugin<'_> {
    fn drop(&mut self) {
        if self.loaded {
            if let Some(f) = self.vt().on_unload {
                // SAFETY: valid, loaded instance.
                unsafe { f(self.ptr) };
            }
        }
        let destroy = self.vt().destroy.expect("destroy is required");
        // SAFETY: called once, last.
        unsafe { destroy(self.ptr) };
    }
}
