//! The C side of a Rust plugin: the instance layout, the static vtable whose functions call
//! the [`SlipstreamPlugin`] trait, and the panic and error plumbing.
//!
//! [`declare_plugin!`](crate::declare_plugin) exports `_create_plugin`, which calls
//! [`create_plugin`]; everything else is reached through [`VTABLE`].
//!
//! Guarantees, for every vtable function:
//! - no panic unwinds into the host: each call runs under `catch_unwind`, and a panic becomes
//!   an error return whose message contains the panic message and its source location
//!   (callbacks without an error return — `on_unload`, `destroy`, `subscribed_events` — log it
//!   through the host at error level instead);
//! - error messages (with their `source()` chain, `"outer: inner"`) are copied into the
//!   host's buffer, truncated on a UTF-8 character boundary and NUL-terminated;
//! - `host::log` and `host::config` reach this instance's host during the call;
//! - a panic caught there prints nothing to stderr (the host logs the error, rate-limited)
//!   unless `SLIPSTREAM_RUST_PANIC_STDERR=1`; other panics reach the previous panic hook.

use crate::event::BroadcastEvent;
use crate::ffi;
use crate::host::{self, CallScope, Host, Level};
use crate::plugin::{error_chain, SlipstreamPlugin, NO_MESSAGE};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CStr, CString};
use std::io::Write;
use std::panic::{self, catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

#[cfg(panic = "abort")]
compile_error!(
    "slipstream-plugin needs `panic = \"unwind\"`: it catches panics at the C boundary so that a \
     panicking plugin reports an error instead of killing the node"
);

/// Mask value meaning "subscribed_events not read yet: deliver every known kind".
const MASK_UNREAD: u64 = u64::MAX;

/// One plugin instance as the host sees it: a `slipstream_plugin` followed by the Rust state.
#[repr(C)]
struct Instance {
    /// Must stay first: the host's `slipstream_plugin *` points here.
    base: ffi::SlipstreamPlugin,
    plugin: Box<dyn SlipstreamPlugin>,
    /// `plugin.name()` read at creation (the host reads the name once, right after).
    name: CString,
    /// Set by `on_load`; invalidated by `destroy`.
    host: Option<Host>,
    /// Last answer of `subscribed_events`, or [`MASK_UNREAD`].
    mask: AtomicU64,
}

/// The vtable every Rust plugin instance points to. It sets both `on_broadcast` and
/// `on_broadcast_batch`, so the host can deliver a block's events in one call.
pub static VTABLE: ffi::SlipstreamPluginVtable = ffi::SlipstreamPluginVtable {
    struct_size: std::mem::size_of::<ffi::SlipstreamPluginVtable>() as u32,
    abi_major: ffi::SLIPSTREAM_ABI_MAJOR as u16,
    abi_minor: ffi::SLIPSTREAM_ABI_MINOR as u16,
    name: Some(name),
    destroy: Some(destroy),
    on_load: Some(on_load),
    on_unload: Some(on_unload),
    subscribed_events: Some(subscribed_events),
    on_broadcast: Some(on_broadcast),
    on_broadcast_batch: Some(on_broadcast_batch),
    resume_height: Some(resume_height),
};

/// Creates an instance for `_create_plugin`: runs `ctor` (catching panics) and returns the
/// `slipstream_plugin *` the host will own, or NULL when `ctor` or `name()` panicked (the
/// message goes to stderr: no host is available yet).
///
/// Called by the code [`declare_plugin!`](crate::declare_plugin) generates.
pub fn create_plugin<F>(ctor: F) -> *mut ffi::SlipstreamPlugin
where
    F: FnOnce() -> Box<dyn SlipstreamPlugin>,
{
    install_panic_hook();
    let made = catch_unwind(AssertUnwindSafe(|| {
        let _entry = EntryScope::enter();
        let plugin = ctor();
        let name = to_cstring(plugin.name());
        (plugin, name)
    }));
    match made {
        Ok((plugin, name)) => {
            let inst = Box::new(Instance {
                base: ffi::SlipstreamPlugin { vtable: &VTABLE },
                plugin,
                name,
                host: None,
                mask: AtomicU64::new(MASK_UNREAD),
            });
            Box::into_raw(inst) as *mut ffi::SlipstreamPlugin
        }
        Err(payload) => {
            let msg = panic_message(payload);
            let _ = writeln!(std::io::stderr(), "slipstream plugin: _create_plugin failed: panic: {msg}");
            ptr::null_mut()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Vtable functions
// ---------------------------------------------------------------------------------------------

/// The host pointer of an instance, for [`CallScope::enter`].
fn host_of(inst: *const Instance) -> *const Host {
    // SAFETY: inst is a live instance (callers' contract).
    match unsafe { &(*inst).host } {
        Some(h) => h,
        None => ptr::null(),
    }
}

/// `name`: the name read at creation.
///
/// # Safety
/// `this` must come from [`create_plugin`] and not be destroyed.
unsafe extern "C" fn name(this: *const ffi::SlipstreamPlugin) -> *const c_char {
    if this.is_null() {
        return c"".as_ptr();
    }
    (*(this as *const Instance)).name.as_ptr()
}

/// `on_load`: calls [`SlipstreamPlugin::on_load`] with the config path; `host::config` works
/// during the call.
///
/// # Safety
/// `this` must come from [`create_plugin`]; `args` and `err` must be valid as the ABI says.
unsafe extern "C" fn on_load(
    this: *mut ffi::SlipstreamPlugin,
    args: *const ffi::SlipstreamLoadArgs,
    err: *mut ffi::SlipstreamError,
) -> i32 {
    if this.is_null() || args.is_null() {
        return fail(err, "on_load: NULL instance or load args");
    }
    let inst = this as *mut Instance;
    let a = &*args;
    if !a.host.is_null() {
        let h = Host::new(a.host);
        host::register(&h);
        if let Some(old) = (*inst).host.replace(h) {
            // A second on_load on one instance is not in the ABI; keep the newest host.
            host::unregister(&old);
        }
    }
    let _scope = CallScope::enter(host_of(inst), args);
    let config_file = if a.config_file.is_null() {
        Ok(String::new())
    } else {
        CStr::from_ptr(a.config_file)
            .to_str()
            .map(str::to_owned)
            .map_err(|_| "on_load: the config file path is not UTF-8".to_string())
    };
    let config_file = match config_file {
        Ok(c) => c,
        Err(msg) => return fail(err, &msg),
    };
    let is_reload = a.is_reload != 0;
    let plugin = &mut (*inst).plugin;
    match guarded("on_load", || plugin.on_load(&config_file, is_reload)) {
        Ok(()) => ffi::SLIPSTREAM_OK,
        Err(msg) => fail(err, &msg),
    }
}

/// `on_unload`: calls [`SlipstreamPlugin::on_unload`]; a panic is logged through the host.
///
/// # Safety
/// `this` must come from [`create_plugin`] and not be destroyed.
unsafe extern "C" fn on_unload(this: *mut ffi::SlipstreamPlugin) {
    if this.is_null() {
        return;
    }
    let inst = this as *mut Instance;
    let _scope = CallScope::enter(host_of(inst), ptr::null());
    let plugin = &mut (*inst).plugin;
    if let Err(msg) = guarded("on_unload", || {
        plugin.on_unload();
        Ok(())
    }) {
        host::log(Level::Error, &msg);
    }
}

/// `subscribed_events`: the mask of [`SlipstreamPlugin::subscribed_events`]; 0 (and an error
/// log) if it panics.
///
/// # Safety
/// `this` must come from [`create_plugin`] and not be destroyed.
unsafe extern "C" fn subscribed_events(this: *const ffi::SlipstreamPlugin) -> u64 {
    if this.is_null() {
        return 0;
    }
    let inst = &*(this as *const Instance);
    let _scope = CallScope::enter(host_of(inst), ptr::null());
    let mask = match guarded("subscribed_events", || {
        Ok(crate::BroadcastEventKind::mask_of(inst.plugin.subscribed_events()))
    }) {
        Ok(m) => m,
        Err(msg) => {
            host::log(Level::Error, &msg);
            0
        }
    };
    inst.mask.store(mask, Ordering::Relaxed);
    mask
}

/// `on_broadcast`: converts the event and calls [`SlipstreamPlugin::on_broadcast`]. Kinds this
/// SDK does not know, or that the plugin did not subscribe to, are skipped with success.
///
/// # Safety
/// `this` must come from [`create_plugin`] and not be destroyed; `event` and `err` must be
/// valid as the ABI says.
unsafe extern "C" fn on_broadcast(
    this: *mut ffi::SlipstreamPlugin,
    event: *const ffi::SlipstreamEvent,
    err: *mut ffi::SlipstreamError,
) -> i32 {
    if this.is_null() || event.is_null() {
        return fail(err, "on_broadcast: NULL instance or event");
    }
    let inst = &*(this as *const Instance);
    let _scope = CallScope::enter(host_of(inst), ptr::null());
    match deliver(inst, &*event) {
        Ok(()) => ffi::SLIPSTREAM_OK,
        Err(msg) => fail(err, &msg),
    }
}

/// `on_broadcast_batch`: delivers each event in order, as `on_broadcast` would. A failing event
/// does not stop the batch (the same as one `on_broadcast` call per event); the return is an
/// error when any event failed, with the first message and the number of failures.
///
/// # Safety
/// `this` must come from [`create_plugin`] and not be destroyed; `events` must point to `count`
/// events and `err` be valid, as the ABI says.
unsafe extern "C" fn on_broadcast_batch(
    this: *mut ffi::SlipstreamPlugin,
    events: *const ffi::SlipstreamEvent,
    count: u64,
    err: *mut ffi::SlipstreamError,
) -> i32 {
    if count == 0 {
        return ffi::SLIPSTREAM_OK;
    }
    let size = std::mem::size_of::<ffi::SlipstreamEvent>();
    let count = match usize::try_from(count) {
        Ok(c) if c.checked_mul(size).is_some_and(|b| b <= isize::MAX as usize) => c,
        _ => return fail(err, "on_broadcast_batch: count too large"),
    };
    if this.is_null() || events.is_null() {
        return fail(err, "on_broadcast_batch: NULL instance or events");
    }
    let inst = &*(this as *const Instance);
    let _scope = CallScope::enter(host_of(inst), ptr::null());
    let events = std::slice::from_raw_parts(events, count);
    let mut first: Option<String> = None;
    let mut failed = 0usize;
    for ev in events {
        if let Err(msg) = deliver(inst, ev) {
            failed += 1;
            first.get_or_insert(msg);
        }
    }
    match first {
        None => ffi::SLIPSTREAM_OK,
        Some(msg) if failed == 1 => fail(err, &msg),
        Some(msg) => fail(err, &format!("{msg} (and {} more failed events in this batch of {count})", failed - 1)),
    }
}

/// `resume_height` (ABI 1.1): calls [`SlipstreamPlugin::resume_height`] and writes the height
/// (0 for `Ok(None)`: no position kept) into `*height`; an error or a panic fails the call
/// with its message, and `*height` is left unchanged.
///
/// # Safety
/// `this` must come from [`create_plugin`] and not be destroyed; `height` must be NULL or
/// point to a writable `u64`; `err` must be valid as the ABI says.
unsafe extern "C" fn resume_height(
    this: *mut ffi::SlipstreamPlugin,
    height: *mut u64,
    err: *mut ffi::SlipstreamError,
) -> i32 {
    if this.is_null() || height.is_null() {
        return fail(err, "resume_height: NULL instance or height");
    }
    let inst = &*(this as *const Instance);
    let _scope = CallScope::enter(host_of(inst), ptr::null());
    match guarded("resume_height", || inst.plugin.resume_height()) {
        Ok(h) => {
            *height = h.unwrap_or(0);
            ffi::SLIPSTREAM_OK
        }
        Err(msg) => fail(err, &msg),
    }
}

/// `destroy`: drops the plugin (its `Drop` may still log), then makes every [`Host`] handle of
/// this instance a no-op.
///
/// # Safety
/// `this` must come from [`create_plugin`]; it is freed and must not be used again.
unsafe extern "C" fn destroy(this: *mut ffi::SlipstreamPlugin) {
    if this.is_null() {
        return;
    }
    let inst = Box::from_raw(this as *mut Instance);
    let h = inst.host.clone();
    {
        let _scope = CallScope::enter(h.as_ref().map_or(ptr::null(), |h| h as *const Host), ptr::null());
        if let Err(msg) = guarded("destroy", move || {
            drop(inst);
            Ok(())
        }) {
            host::log(Level::Error, &msg);
        }
    }
    if let Some(h) = h {
        host::unregister(&h);
        h.invalidate();
    }
}

/// Converts one event and hands it to the plugin.
///
/// # Safety
/// `raw` must be a valid event as the ABI says.
unsafe fn deliver(inst: &Instance, raw: &ffi::SlipstreamEvent) -> Result<(), String> {
    let ev = match BroadcastEvent::from_raw(raw) {
        Ok(Some(ev)) => ev,
        Ok(None) => return Ok(()), // a kind from a newer ABI minor: ignore
        Err(msg) => return Err(msg.to_string()),
    };
    let mask = inst.mask.load(Ordering::Relaxed);
    if mask != MASK_UNREAD && mask & ev.kind().mask() == 0 {
        return Ok(());
    }
    guarded("on_broadcast", || inst.plugin.on_broadcast(ev))
}

// ---------------------------------------------------------------------------------------------
// Panics and errors
// ---------------------------------------------------------------------------------------------

/// Runs `f`, turning an error into its message chain and a panic into
/// `"panic in {what}: {message} (at file:line:col)"`. Never unwinds. While it runs, the panic
/// hook treats panics on this thread as caught by the SDK (see [`install_panic_hook`]).
fn guarded<R>(what: &str, f: impl FnOnce() -> crate::Result<R>) -> Result<R, String> {
    let _entry = EntryScope::enter();
    let r = catch_unwind(AssertUnwindSafe(|| f().map_err(|e| error_chain(&*e))));
    match r {
        Ok(r) => r,
        Err(payload) => Err(format!("panic in {what}: {}", panic_message(payload))),
    }
}

/// The environment variable that makes the SDK's panic hook also run the previous hook (by
/// default Rust's, which prints `thread '…' panicked at …` and maybe a backtrace to stderr) for
/// panics the SDK catches. Only the value `1` turns it on; read once, when the first instance
/// of the library is created.
pub const PANIC_STDERR_ENV: &str = "SLIPSTREAM_RUST_PANIC_STDERR";

thread_local! {
    /// Whether this thread is inside an SDK entry point (under [`guarded`] or the constructor
    /// in [`create_plugin`]), where every panic is caught and reported as an error.
    static IN_ENTRY_POINT: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic caught on this thread happened, recorded by the panic hook.
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Marks this thread as inside an SDK entry point until dropped (restoring the previous state,
/// so nested entry points are fine).
struct EntryScope {
    was: bool,
}

impl EntryScope {
    fn enter() -> EntryScope {
        let was = IN_ENTRY_POINT.try_with(|f| f.replace(true)).unwrap_or(false);
        EntryScope { was }
    }
}

impl Drop for EntryScope {
    fn drop(&mut self) {
        let _ = IN_ENTRY_POINT.try_with(|f| f.set(self.was));
    }
}

/// Installs, once, the SDK's panic hook. A panic on a thread inside an SDK entry point is
/// caught and becomes the entry point's error (which the host logs, rate-limited), so the hook
/// only records its location for that message and prints nothing — unless
/// [`PANIC_STDERR_ENV`]`=1`, when it also runs the previous hook. Any other panic (on a thread
/// the plugin spawned, say) goes to the previous hook unchanged, so it is not lost.
///
/// The hook is per plugin library, not per process: each cdylib links its own copy of std,
/// with its own hook, `Once` and thread-locals, and only sees panics raised by its own code.
/// (In a test binary that links the SDK as an rlib, it is the process's hook.)
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let chain_caught = std::env::var_os(PANIC_STDERR_ENV).is_some_and(|v| v == "1");
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let caught = IN_ENTRY_POINT.try_with(Cell::get).unwrap_or(false);
            if !caught {
                prev(info);
                return;
            }
            if let Some(loc) = info.location() {
                let s = format!("{}:{}:{}", loc.file(), loc.line(), loc.column());
                let _ = PANIC_LOCATION.try_with(|l| l.try_borrow_mut().map(|mut l| *l = Some(s)));
            }
            if chain_caught {
                prev(info);
            }
        }));
    });
}

/// The message of a caught panic (and its location when the hook recorded it). Drops the
/// payload without letting a panicking `Drop` escape.
fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let mut msg = if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    };
    if msg.is_empty() {
        msg.push_str(NO_MESSAGE);
    }
    let take_location = || PANIC_LOCATION.try_with(|l| l.try_borrow_mut().ok()?.take()).ok().flatten();
    let loc = take_location();
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    // A panic in the payload's Drop recorded its own location: not the one we report.
    let _ = take_location();
    if let Some(loc) = loc {
        msg.push_str(" (at ");
        msg.push_str(&loc);
        msg.push(')');
    }
    msg
}

/// Writes `msg` into the host's error buffer (an empty one as [`NO_MESSAGE`]) and returns
/// `SLIPSTREAM_ERROR`.
///
/// # Safety
/// `err` must be NULL or valid as the ABI says.
unsafe fn fail(err: *mut ffi::SlipstreamError, msg: &str) -> i32 {
    let msg = msg.split('\0').next().unwrap_or("");
    write_error(err, if msg.is_empty() { NO_MESSAGE } else { msg });
    ffi::SLIPSTREAM_ERROR
}

/// Copies `msg` into a `slipstream_error`: at most `cap - 1` bytes, cut on a UTF-8 character
/// boundary (and at the first NUL), then a NUL. Does nothing if `err` or its buffer is NULL or
/// `cap` is 0.
///
/// # Safety
/// `err` must be NULL or point to a `slipstream_error` whose `buf` has room for `cap` bytes.
pub unsafe fn write_error(err: *mut ffi::SlipstreamError, msg: &str) {
    let Some(e) = err.as_ref() else { return };
    if e.buf.is_null() || e.cap == 0 {
        return;
    }
    let room = usize::try_from(e.cap - 1).unwrap_or(usize::MAX);
    let msg = msg.split('\0').next().unwrap_or("");
    let out = truncate_utf8(msg, room);
    ptr::copy_nonoverlapping(out.as_ptr(), e.buf as *mut u8, out.len());
    *e.buf.add(out.len()) = 0;
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

fn to_cstring(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| CString::new(s.replace('\0', "\\0")).expect("NULs replaced"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        let s = "aé€😀"; // 1 + 2 + 3 + 4 bytes
        assert_eq!(truncate_utf8(s, 0), "");
        assert_eq!(truncate_utf8(s, 1), "a");
        assert_eq!(truncate_utf8(s, 2), "a");
        assert_eq!(truncate_utf8(s, 3), "aé");
        assert_eq!(truncate_utf8(s, 5), "aé");
        assert_eq!(truncate_utf8(s, 6), "aé€");
        assert_eq!(truncate_utf8(s, 9), "aé€");
        assert_eq!(truncate_utf8(s, 10), s);
        assert_eq!(truncate_utf8(s, 100), s);
    }

    #[test]
    fn write_error_truncates_and_terminates() {
        for cap in 1..=12u64 {
            let mut buf = vec![0x55u8; cap as usize + 4];
            let mut e = ffi::SlipstreamError { buf: buf.as_mut_ptr() as *mut c_char, cap };
            unsafe { write_error(&mut e, "aé€😀") };
            let written = CStr::from_bytes_until_nul(&buf).unwrap();
            let text = written.to_str().expect("valid UTF-8 after truncation");
            assert!(text.len() < cap as usize, "cap {cap}: {text:?}");
            assert!("aé€😀".starts_with(text));
            // Nothing written past cap.
            assert!(buf[cap as usize..].iter().all(|b| *b == 0x55), "cap {cap}");
        }
        // NUL, NULL error and NULL buffer are handled.
        let mut buf = [1u8; 8];
        let mut e = ffi::SlipstreamError { buf: buf.as_mut_ptr() as *mut c_char, cap: 8 };
        unsafe { write_error(&mut e, "ab\0cd") };
        assert_eq!(&buf[..3], b"ab\0");
        unsafe { write_error(ptr::null_mut(), "x") };
        let mut e = ffi::SlipstreamError { buf: ptr::null_mut(), cap: 8 };
        unsafe { write_error(&mut e, "x") };
    }
}
