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
//! use slipstream_plugin::{declare_plugin, host, BroadcastEvent, BroadcastEventKind, Result, SlipstreamPlugin};
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
//!         host::info(&format!("loaded from {config_file}"));
//!         Ok(())
//!     }
//!     fn subscribed_events(&self) -> &[BroadcastEventKind] {
//!         &[BroadcastEventKind::Block]
//!     }
//!     fn on_broadcast(&self, event: BroadcastEvent<'_>) -> Result<()> {
//!         if let BroadcastEvent::Block { block_height, .. } = event {
//!             self.blocks.fetch_add(1, Ordering::Relaxed);
//!             host::debug(&format!("block {block_height}"));
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
//! Modules: [`ffi`] (the C mirrors, layout-checked), [`host`] (logging and config),
//! [`testing`] (drive a plugin through its C entry points in unit tests), [`export`] (the
//! vtable behind [`declare_plugin!`]).

#![warn(missing_docs, missing_debug_implementations)]

pub mod event;
pub mod export;
pub mod ffi;
pub mod host;
pub mod plugin;
pub mod testing;

pub use event::{BroadcastEvent, BroadcastEventKind};
pub use plugin::{error_chain, Context, ContextError, Error, MessageError, Result, SlipstreamPlugin};

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
