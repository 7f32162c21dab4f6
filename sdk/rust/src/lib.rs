//! # slipstream-plugin
//!
//! Write Slipstream plugins — shared libraries a blockchain node loads to observe block
//! finalization — in safe Rust, on top of the stable C ABI of `include/slipstream.h`.
//!
//! The trait is snarkVM's [`SlipstreamPlugin`], with the same events ([`BroadcastEvent`],
//! [`BroadcastEventKind`]); a snarkVM plugin ports by changing its imports and adding one
//! [`declare_plugin!`] line. Unlike snarkVM's trait-object-across-`extern "C"`, the library
//! talks to the host only through `#[repr(C)]` structs, so plugin and node need not share a
//! compiler, a crate version, or even a language.
//!
//! ```
//! use slipstream_plugin::{debug, declare_plugin, info, BroadcastEvent, BroadcastEventKind, Result, SlipstreamPlugin};
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! #[derive(Debug, Default)]
//! struct BlockCounter {
//!     blocks: AtomicU64,
//! }
//!
//! impl SlipstreamPlugin for BlockCounter {
//!     fn name(&self) -> &'static str {
//!         "block-counter"
//!     }
//!     fn on_load(&mut self, config_file: &str, _is_reload: bool) -> Result<()> {
//!         info!("loaded from {config_file}");
//!         Ok(())
//!     }
//!     fn subscribed_events(&self) -> &[BroadcastEventKind] {
//!         &[BroadcastEventKind::Block]
//!     }
//!     fn on_broadcast(&self, event: BroadcastEvent<'_>) -> Result<()> {
//!         if let BroadcastEvent::Block { block_height, .. } = event {
//!             self.blocks.fetch_add(1, Ordering::Relaxed);
//!             debug!("block {block_height}");
//!         }
//!         Ok(())
//!     }
//! }
//!
//! declare_plugin!(BlockCounter::default());
//! # fn main() {}
//! ```
//!
//! Build the crate as a `cdylib` with `panic = "unwind"` (the default).
//!
//! # Logging
//!
//! Five macros write a line to the node's log, tagged with the plugin's name, with the
//! arguments of [`format!`]: [`trace!`], [`debug!`], [`info!`], [`warn!`] and [`error!`]
//! (and [`log!`] with a [`host::Level`]). They work from any thread, and do nothing when no
//! instance of the plugin is loaded:
//!
//! ```
//! # let (n, path, e) = (3, "/var/x", "disk full");
//! slipstream_plugin::info!("wrote {n} rows to {path}");
//! slipstream_plugin::warn!("slow database: {e}");
//! slipstream_plugin::log!(slipstream_plugin::host::Level::Error, "giving up after {n} tries");
//! ```
//!
//! With a [`host::Host`] handle (one per instance, see [`host::current`]) first, the line goes
//! to that instance: `info!(host: handle, "…")`.
//!
//! # Modules
//!
//! [`host`] (logging, config values, config paths), [`event`] (the events), [`plugin`] (the
//! trait and the error type). With the cargo feature `testing` (enable it in
//! `[dev-dependencies]`), `testing` drives a plugin through its C entry points in unit tests.
//! The C mirrors and the vtable behind [`declare_plugin!`] are the SDK's own business and not
//! part of its documented API.

#![warn(missing_docs, missing_debug_implementations)]

pub mod event;
#[doc(hidden)]
pub mod export;
#[doc(hidden)]
pub mod ffi;
pub mod host;
mod logging;
pub mod plugin;
#[cfg(feature = "testing")]
pub mod testing;

pub use event::{BroadcastEvent, BroadcastEventKind};
pub use plugin::{error_chain, Context, ContextError, Error, MessageError, Result, SlipstreamPlugin, NO_MESSAGE};

/// Exports a plugin library's two C entry points for a plugin value:
///
/// - `uint32_t slipstream_abi_version(void)` — the ABI version this SDK implements;
/// - `slipstream_plugin *_create_plugin(void)` — a new instance made by evaluating the
///   expression (once per call; the host may create several instances of one library), or
///   NULL if it panics.
///
/// The instance's vtable sets every callback, including `on_broadcast_batch`, and catches
/// panics in each of them. Use it once per library, at the crate root:
///
/// ```ignore
/// slipstream_plugin::declare_plugin!(MyPlugin::default());
/// ```
#[macro_export]
macro_rules! declare_plugin {
    ($ctor:expr $(,)?) => {
        /// Slipstream entry point: the ABI version this plugin was built for.
        #[unsafe(no_mangle)]
        pub extern "C" fn slipstream_abi_version() -> u32 {
            $crate::ffi::SLIPSTREAM_ABI_VERSION
        }

        /// Slipstream entry point: a new plugin instance, or NULL on failure.
        #[unsafe(no_mangle)]
        pub extern "C" fn _create_plugin() -> *mut $crate::ffi::SlipstreamPlugin {
            $crate::export::create_plugin(|| {
                let plugin: ::std::boxed::Box<dyn $crate::SlipstreamPlugin> = ::std::boxed::Box::new($ctor);
                plugin
            })
        }
    };
}
