//! The plugin trait, with snarkVM's methods and defaults, and the error type.

use crate::event::{BroadcastEvent, BroadcastEventKind};
use std::any::Any;
use std::fmt;

/// Any error: what plugin callbacks return. `?` converts every `std::error::Error + Send +
/// Sync`, `String` and `&str` into it, so code written for `anyhow::Result` mostly compiles
/// unchanged (use [`bail!`](crate::bail), [`format_err!`](crate::format_err) and
/// [`Context`] for the rest).
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result<T, Error>`, the return type of plugin callbacks.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The interface for Slipstream plugins, the same as snarkVM's `SlipstreamPlugin`.
///
/// A plugin implements this trait and exports it with [`declare_plugin!`](crate::declare_plugin).
///
/// Threading: the host never calls one instance concurrently, but successive calls may come
/// from different threads, hence `Send + Sync`. `on_broadcast` takes `&self` (as in snarkVM):
/// keep mutable state behind a `Mutex` or atomics.
pub trait SlipstreamPlugin: Any + Send + Sync + fmt::Debug {
    /// Returns the name of the plugin, used in the host's logs, metrics and admin API (unless
    /// the config's `name` overrides it). Read once, right after the plugin is created.
    ///
    /// snarkVM's `fn name(&self) -> &'static str` implements this method as it is.
    fn name(&self) -> &str;

    /// Called when the plugin is loaded, to do whatever initialization it needs.
    /// `config_file` is the absolute path of its config file (JSON5, with a `libpath` field);
    /// [`host::config`](crate::host::config) reads its values. `is_reload` is true when the
    /// operator reloads the plugin. An error (or a panic) fails the load: the host destroys the
    /// instance and shows the message to the operator.
    fn on_load(&mut self, _config_file: &str, _is_reload: bool) -> Result<()> {
        Ok(())
    }

    /// Called right before the plugin is unloaded, after the last `on_broadcast` returned.
    /// Flush and release resources, and join threads the plugin started.
    fn on_unload(&mut self) {}

    /// Returns the event kinds this plugin subscribes to, read once after `on_load` succeeds.
    /// The host pays nothing for kinds no plugin wants. Defaults to no subscriptions.
    fn subscribed_events(&self) -> &[BroadcastEventKind] {
        &[]
    }

    /// Receives a single event; only invoked for kinds in [`subscribed_events`](Self::subscribed_events).
    ///
    /// An error (or a panic) is logged by the host with the plugin's name and counted; it never
    /// reaches the node's finalization unless the operator chose `error_policy: "halt"`.
    /// The event's byte strings are valid during this call only.
    fn on_broadcast(&self, _event: BroadcastEvent<'_>) -> Result<()> {
        Ok(())
    }

    /// Returns the first block height this plugin still needs (ABI 1.1): everything below it
    /// the plugin has already stored durably, so after a restart or in a replay the host skips
    /// (and counts) the events below it instead of delivering them again.
    ///
    /// Called once after `on_load` and `subscribed_events` succeed (again after each reload),
    /// before any `on_broadcast`. `Ok(None)`, the default, means the plugin keeps no position:
    /// the same as `Ok(Some(0))`, every event is delivered. An error (or a panic) fails the
    /// load: the host calls `on_unload`, destroys the instance and shows the message.
    ///
    /// The events of one height always reach the plugin together and in order, so a plugin
    /// that makes whole heights durable can answer "the height after the last one stored".
    fn resume_height(&self) -> Result<Option<u64>> {
        Ok(None)
    }
}

/// An error made of a message (what [`format_err!`](crate::format_err) returns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageError(pub String);

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MessageError {}

/// An error with a context message in front of its cause (what [`Context`] builds).
#[derive(Debug)]
pub struct ContextError {
    context: String,
    source: Error,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)
    }
}

impl std::error::Error for ContextError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// Adds a message to an error, like `anyhow::Context`. The host receives the whole chain,
/// `"context: cause: ..."`.
pub trait Context<T> {
    /// Wraps the error with `context`.
    fn context<C: fmt::Display>(self, context: C) -> Result<T>;
    /// Wraps the error with the message `f()` returns (only computed on error).
    fn with_context<C: fmt::Display, F: FnOnce() -> C>(self, f: F) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context<C: fmt::Display>(self, context: C) -> Result<T> {
        self.map_err(|e| Box::new(ContextError { context: context.to_string(), source: e.into() }) as Error)
    }
    fn with_context<C: fmt::Display, F: FnOnce() -> C>(self, f: F) -> Result<T> {
        self.map_err(|e| Box::new(ContextError { context: f().to_string(), source: e.into() }) as Error)
    }
}

impl<T> Context<T> for Option<T> {
    fn context<C: fmt::Display>(self, context: C) -> Result<T> {
        self.ok_or_else(|| Box::new(MessageError(context.to_string())) as Error)
    }
    fn with_context<C: fmt::Display, F: FnOnce() -> C>(self, f: F) -> Result<T> {
        self.ok_or_else(|| Box::new(MessageError(f().to_string())) as Error)
    }
}

/// What an error without any message reads as: the host shows the same for an empty C
/// error message.
pub const NO_MESSAGE: &str = "(no message)";

/// Formats an error and its chain of sources as `"outer: inner: root"`. Empty messages in the
/// chain are left out; an error whose whole chain is empty reads [`NO_MESSAGE`].
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        // ContextError-like wrappers sometimes repeat their source; don't print it twice.
        if !s.is_empty() && !out.ends_with(&s) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&s);
        }
        cur = e.source();
    }
    if out.is_empty() {
        out.push_str(NO_MESSAGE);
    }
    out
}

/// Builds an [`Error`] from a format string, like `anyhow::anyhow!`.
#[macro_export]
macro_rules! format_err {
    ($($arg:tt)*) => {
        $crate::Error::from($crate::MessageError(::std::format!($($arg)*)))
    };
}

/// Returns early with an error built from a format string, like `anyhow::bail!`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return ::std::result::Result::Err($crate::format_err!($($arg)*))
    };
}

/// Returns early with an error unless a condition holds, like `anyhow::ensure!`.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::bail!($($arg)*);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> Result<()> {
        let e = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        Err(e).context("cannot open /x")
    }

    #[test]
    fn context_chain() {
        let err = open().unwrap_err();
        assert_eq!(error_chain(&*err), "cannot open /x: no such file");
        let none: Option<u8> = None;
        assert_eq!(none.context("missing").unwrap_err().to_string(), "missing");
    }

    #[test]
    fn empty_messages() {
        let empty: Error = Box::new(MessageError(String::new()));
        assert_eq!(error_chain(&*empty), "(no message)");
        let r: Result<()> = Err(std::io::Error::other("")).context("");
        assert_eq!(error_chain(&*r.unwrap_err()), "(no message)");
        let r: Result<()> = Err(MessageError(String::new())).context("cannot open /x");
        assert_eq!(error_chain(&*r.unwrap_err()), "cannot open /x");
        let r: Result<()> = Err(std::io::Error::other("disk full")).context("");
        assert_eq!(error_chain(&*r.unwrap_err()), "disk full");
        let r: Result<()> = Err(MessageError("root".into())).context("").context("outer");
        assert_eq!(error_chain(&*r.unwrap_err()), "outer: root");
    }

    #[test]
    fn macros() {
        fn f(x: u32) -> Result<u32> {
            ensure!(x < 10, "x too big: {x}");
            if x == 3 {
                bail!("three");
            }
            Ok(x)
        }
        assert_eq!(f(1).unwrap(), 1);
        assert_eq!(f(3).unwrap_err().to_string(), "three");
        assert_eq!(f(11).unwrap_err().to_string(), "x too big: 11");
        let e: Error = "plain".into();
        assert_eq!(e.to_string(), "plain");
    }
}
