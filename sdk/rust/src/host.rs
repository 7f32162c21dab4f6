//! Services the host offers plugins: logging (from any thread) and config values (during
//! `on_load`).
//!
//! ```no_run
//! use slipstream_plugin::host::{self, Level};
//! host::log(Level::Info, "opened the database");
//! let path: Option<String> = host::config("path"); // only inside on_load
//! let db: Option<std::path::PathBuf> = host::config_path("db"); // relative to the config file
//! ```
//!
//! Which host a call goes to: inside a callback, the host of the instance being called. On a
//! thread the plugin started, the most recently loaded live instance of this library; a plugin
//! library that may be loaded several times at once (one instance per config) should take a
//! [`Host`] handle with [`current`] in `on_load` and move it into its threads.
//! After the instance is destroyed every handle to its host becomes a no-op, so a stray thread
//! never calls into a host that has let go of it.

use crate::ffi;
use std::cell::Cell;
use std::ffi::{c_char, CStr, CString};
use std::mem::offset_of;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::{Arc, Mutex, RwLock};

/// A log level (`SLIPSTREAM_LOG_*`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i32)]
pub enum Level {
    /// `SLIPSTREAM_LOG_TRACE`.
    Trace = ffi::SLIPSTREAM_LOG_TRACE,
    /// `SLIPSTREAM_LOG_DEBUG`.
    Debug = ffi::SLIPSTREAM_LOG_DEBUG,
    /// `SLIPSTREAM_LOG_INFO`.
    Info = ffi::SLIPSTREAM_LOG_INFO,
    /// `SLIPSTREAM_LOG_WARN`.
    Warn = ffi::SLIPSTREAM_LOG_WARN,
    /// `SLIPSTREAM_LOG_ERROR`.
    Error = ffi::SLIPSTREAM_LOG_ERROR,
}

/// The host's `slipstream_host` pointer, NULL once the instance is destroyed.
struct HostPtr(*const ffi::SlipstreamHost);

// SAFETY: the ABI allows `log` from any thread while the pointer is valid; the pointer is only
// dereferenced under the RwLock, and invalidated (under the write lock) before destroy returns.
unsafe impl Send for HostPtr {}
unsafe impl Sync for HostPtr {}

/// A handle to one plugin instance's host. Cheap to clone, `Send + Sync`: move it into the
/// plugin's own threads. Once the instance is destroyed, [`Host::log`] does nothing.
#[derive(Clone)]
pub struct Host(Arc<RwLock<HostPtr>>);

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("valid", &self.is_valid()).finish()
    }
}

impl Host {
    /// Wraps the host pointer of `on_load`.
    ///
    /// # Safety
    /// `host` must be NULL or stay valid until [`Host::invalidate`] is called.
    pub(crate) unsafe fn new(host: *const ffi::SlipstreamHost) -> Host {
        Host(Arc::new(RwLock::new(HostPtr(host))))
    }

    /// Makes every clone of this handle a no-op; waits for log calls in flight to return.
    pub(crate) fn invalidate(&self) {
        let mut g = self.0.write().unwrap_or_else(|e| e.into_inner());
        g.0 = ptr::null();
    }

    /// Whether the instance this handle belongs to is still alive.
    pub fn is_valid(&self) -> bool {
        !self.0.read().unwrap_or_else(|e| e.into_inner()).0.is_null()
    }

    /// Writes `msg` to the node's log at `level`, tagged with the plugin's name. NUL bytes in
    /// `msg` are written as `\0`. Does nothing once the instance is destroyed.
    pub fn log(&self, level: Level, msg: &str) {
        let g = self.0.read().unwrap_or_else(|e| e.into_inner());
        if g.0.is_null() {
            return;
        }
        // SAFETY: non-NULL and not yet invalidated, so valid (see `new`).
        let host = unsafe { &*g.0 };
        if (host.struct_size as usize) < offset_of!(ffi::SlipstreamHost, log) + size_of::<usize>() {
            return;
        }
        let Some(log) = host.log else { return };
        let c = to_cstring(msg);
        // SAFETY: the ABI allows log from any thread between on_load and destroy.
        unsafe { log(host.ctx, level as i32, c.as_ptr()) };
    }
}

fn to_cstring(msg: &str) -> CString {
    match CString::new(msg) {
        Ok(c) => c,
        Err(_) => CString::new(msg.replace('\0', "\\0")).expect("NULs replaced"),
    }
}

/// Live instances of this library, most recently loaded last (the fallback for threads that
/// are not inside a callback).
static LIVE: Mutex<Vec<Host>> = Mutex::new(Vec::new());

thread_local! {
    /// The host of the instance whose callback runs on this thread.
    static CURRENT: Cell<*const Host> = const { Cell::new(ptr::null()) };
    /// The arguments of the `on_load` running on this thread.
    static LOADING: Cell<*const ffi::SlipstreamLoadArgs> = const { Cell::new(ptr::null()) };
}

pub(crate) fn register(h: &Host) {
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(h.clone());
}

pub(crate) fn unregister(h: &Host) {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.retain(|x| !Arc::ptr_eq(&x.0, &h.0));
}

/// While alive, `host::log` on this thread goes to `host` (and `host::config` reads `args`).
pub(crate) struct CallScope {
    prev_current: *const Host,
    prev_loading: *const ffi::SlipstreamLoadArgs,
}

impl CallScope {
    /// # Safety
    /// `host` (if non-NULL) and `args` (if non-NULL) must stay valid while the scope lives.
    pub(crate) unsafe fn enter(host: *const Host, args: *const ffi::SlipstreamLoadArgs) -> CallScope {
        let prev_current = CURRENT.with(|c| c.replace(host));
        let prev_loading = LOADING.with(|l| l.replace(args));
        CallScope { prev_current, prev_loading }
    }
}

impl Drop for CallScope {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev_current));
        LOADING.with(|l| l.set(self.prev_loading));
    }
}

/// The host the current thread logs to: the instance being called on this thread, else the
/// most recently loaded live instance of this library, else `None`.
pub fn current() -> Option<Host> {
    let cur = CURRENT.with(|c| c.get());
    if !cur.is_null() {
        // SAFETY: set by a CallScope whose instance outlives it.
        return Some(unsafe { (*cur).clone() });
    }
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).last().cloned()
}

/// Writes `msg` to the node's log at `level`, tagged with the plugin's name. Usable from any
/// thread; does nothing when no instance of the plugin is loaded.
pub fn log(level: Level, msg: &str) {
    let cur = CURRENT.with(|c| c.get());
    if !cur.is_null() {
        // SAFETY: set by a CallScope whose instance outlives it.
        return unsafe { (*cur).log(level, msg) };
    }
    if let Some(h) = current() {
        h.log(level, msg);
    }
}

/// `log(Level::Trace, msg)`.
pub fn trace(msg: &str) {
    log(Level::Trace, msg)
}
/// `log(Level::Debug, msg)`.
pub fn debug(msg: &str) {
    log(Level::Debug, msg)
}
/// `log(Level::Info, msg)`.
pub fn info(msg: &str) {
    log(Level::Info, msg)
}
/// `log(Level::Warn, msg)`.
pub fn warn(msg: &str) {
    log(Level::Warn, msg)
}
/// `log(Level::Error, msg)`.
pub fn error(msg: &str) {
    log(Level::Error, msg)
}

fn loading_args() -> Option<&'static ffi::SlipstreamLoadArgs> {
    let p = LOADING.with(|l| l.get());
    // SAFETY: set by the on_load CallScope, valid while it lives; callers use the reference
    // only within this call (the 'static is an implementation shortcut, never returned).
    unsafe { p.as_ref() }
}

/// Reads the top-level config value `key` of the config being loaded, as text: strings
/// unquoted, numbers and booleans as written, objects and arrays as JSON. `None` if the key
/// is absent, or when called outside `on_load` (or from another thread than on_load's).
pub fn config(key: &str) -> Option<String> {
    let args = loading_args()?;
    if args.host.is_null() {
        return None;
    }
    // SAFETY: the host pointer of the load args is valid during on_load.
    let host = unsafe { &*args.host };
    if (host.struct_size as usize) < offset_of!(ffi::SlipstreamHost, config_get) + size_of::<usize>() {
        return None;
    }
    let get = host.config_get?;
    let key = CString::new(key).ok()?;
    // SAFETY: config_get is called during on_load with a valid key; buf NULL with cap 0 asks
    // for the length.
    let mut len = unsafe { get(host.ctx, key.as_ptr(), ptr::null_mut(), 0) };
    for _ in 0..4 {
        if len < 0 {
            return None;
        }
        let n = usize::try_from(len).ok()?;
        let mut buf = vec![0u8; n.checked_add(1)?];
        // SAFETY: buf has room for buf.len() bytes.
        let got = unsafe { get(host.ctx, key.as_ptr(), buf.as_mut_ptr() as *mut c_char, buf.len() as u64) };
        if got >= 0 && got as usize <= n {
            buf.truncate(got as usize);
            return Some(String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()));
        }
        len = got; // the value grew between the two calls: try again
    }
    None
}

/// The whole config being loaded, as strict JSON. `None` outside `on_load`.
pub fn config_json() -> Option<String> {
    let args = loading_args()?;
    if args.config_json.is_null() {
        return None;
    }
    // SAFETY: NUL-terminated and valid during on_load.
    Some(unsafe { CStr::from_ptr(args.config_json) }.to_string_lossy().into_owned())
}

/// Reads the config value `key` as a file path and resolves it as the host resolves
/// `libpath`: a relative path is taken relative to the directory of the config file (the
/// `config_file` of `on_load`), an absolute one is returned as it is. An empty value stays
/// empty (so the plugin can say that it is). `None` if the key is absent, or outside
/// `on_load` (as [`config`]).
///
/// ```no_run
/// // config file /etc/slipstream/events.json5: { libpath: "…", path: "out/events.ndjson" }
/// let out = slipstream_plugin::host::config_path("path"); // Some("/etc/slipstream/out/events.ndjson")
/// ```
pub fn config_path(key: &str) -> Option<PathBuf> {
    let value = config(key)?;
    let args = loading_args()?;
    let config_file = if args.config_file.is_null() {
        None
    } else {
        // SAFETY: NUL-terminated and valid during on_load.
        unsafe { CStr::from_ptr(args.config_file) }.to_str().ok()
    };
    Some(resolve_path(config_file, &value))
}

/// `value` relative to the directory of `config_file` unless it is absolute or empty (or there
/// is no config file, or it has no directory part).
fn resolve_path(config_file: Option<&str>, value: &str) -> PathBuf {
    let p = Path::new(value);
    if value.is_empty() || p.is_absolute() {
        return p.to_path_buf();
    }
    match config_file.map(Path::new).and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::resolve_path;
    use std::path::PathBuf;

    #[test]
    fn resolve_path_cases() {
        let cases: &[(Option<&str>, &str, &str)] = &[
            (Some("/etc/slipstream/p.json5"), "out/x.ndjson", "/etc/slipstream/out/x.ndjson"),
            (Some("/etc/slipstream/p.json5"), "x", "/etc/slipstream/x"),
            (Some("/etc/slipstream/p.json5"), "../x", "/etc/slipstream/../x"),
            (Some("/etc/slipstream/p.json5"), "/var/lib/x.db", "/var/lib/x.db"),
            (Some("/etc/slipstream/p.json5"), "", ""),
            (Some("/p.json5"), "x", "/x"),
            (Some("p.json5"), "x", "x"),
            (None, "x", "x"),
        ];
        for (file, value, want) in cases {
            assert_eq!(resolve_path(*file, value), PathBuf::from(want), "{file:?} + {value:?}");
        }
    }
}
