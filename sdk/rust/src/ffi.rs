//! `#[repr(C)]` mirrors of every type in `include/slipstream.h` (ABI 1.1).
//!
//! These are the raw, unsafe building blocks the rest of the SDK is written on; plugin authors
//! normally never touch them. Names follow the C header with Rust casing
//! (`slipstream_event` → [`SlipstreamEvent`]); the anonymous union inside `slipstream_event` is
//! the named field [`SlipstreamEvent::payload`].
//!
//! Every size and field offset is checked at compile time against the values the ABI fixes for
//! 64-bit targets, and `tests/c_layout.rs` compares them with what the C compiler reports for
//! the header itself.

use std::ffi::{c_char, c_void};

#[cfg(not(target_pointer_width = "64"))]
compile_error!("the Slipstream ABI 1.x is defined for 64-bit targets only");

// ---------------------------------------------------------------------------------------------
// Versioning
// ---------------------------------------------------------------------------------------------

/// `SLIPSTREAM_ABI_MAJOR`: incompatible changes bump it.
pub const SLIPSTREAM_ABI_MAJOR: u32 = 1;
/// `SLIPSTREAM_ABI_MINOR`: append-only additions bump it.
pub const SLIPSTREAM_ABI_MINOR: u32 = 1;
/// `SLIPSTREAM_ABI_VERSION`: `(major << 16) | minor`, what `slipstream_abi_version()` returns.
pub const SLIPSTREAM_ABI_VERSION: u32 = (SLIPSTREAM_ABI_MAJOR << 16) | SLIPSTREAM_ABI_MINOR;

// ---------------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------------

/// `SLIPSTREAM_OK`: a callback succeeded.
pub const SLIPSTREAM_OK: i32 = 0;
/// `SLIPSTREAM_ERROR`: a callback failed (any non-zero value is an error).
pub const SLIPSTREAM_ERROR: i32 = -1;

// ---------------------------------------------------------------------------------------------
// Event kinds and masks
// ---------------------------------------------------------------------------------------------

/// `SLIPSTREAM_EVENT_MAPPING_UPDATE`.
pub const SLIPSTREAM_EVENT_MAPPING_UPDATE: u32 = 0;
/// `SLIPSTREAM_EVENT_MAPPING_REMOVAL`.
pub const SLIPSTREAM_EVENT_MAPPING_REMOVAL: u32 = 1;
/// `SLIPSTREAM_EVENT_STAKING_REWARD`.
pub const SLIPSTREAM_EVENT_STAKING_REWARD: u32 = 2;
/// `SLIPSTREAM_EVENT_BLOCK`.
pub const SLIPSTREAM_EVENT_BLOCK: u32 = 3;
/// `SLIPSTREAM_EVENT_KIND_COUNT`: the number of kinds this ABI version knows.
pub const SLIPSTREAM_EVENT_KIND_COUNT: u32 = 4;

/// `SLIPSTREAM_MASK(kind)`: the bit of `kind` in a subscription mask.
pub const fn slipstream_mask(kind: u32) -> u64 {
    1u64 << kind
}

/// `SLIPSTREAM_MASK_ALL`: every kind this ABI version knows.
pub const SLIPSTREAM_MASK_ALL: u64 = (1u64 << SLIPSTREAM_EVENT_KIND_COUNT) - 1;

// ---------------------------------------------------------------------------------------------
// Log levels
// ---------------------------------------------------------------------------------------------

/// `SLIPSTREAM_LOG_TRACE`.
pub const SLIPSTREAM_LOG_TRACE: i32 = 0;
/// `SLIPSTREAM_LOG_DEBUG`.
pub const SLIPSTREAM_LOG_DEBUG: i32 = 1;
/// `SLIPSTREAM_LOG_INFO`.
pub const SLIPSTREAM_LOG_INFO: i32 = 2;
/// `SLIPSTREAM_LOG_WARN`.
pub const SLIPSTREAM_LOG_WARN: i32 = 3;
/// `SLIPSTREAM_LOG_ERROR`.
pub const SLIPSTREAM_LOG_ERROR: i32 = 4;

// ---------------------------------------------------------------------------------------------
// Structs
// ---------------------------------------------------------------------------------------------

/// `slipstream_error`: where a failing callback writes its message.
///
/// The buffer is host-owned, already holds `""`, and has room for `cap` bytes including the NUL.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SlipstreamError {
    /// `char *buf`.
    pub buf: *mut c_char,
    /// `uint64_t cap`, `>= 1`.
    pub cap: u64,
}

/// `slipstream_bytes`: a borrowed byte string, valid only during the callback.
///
/// `ptr` is NULL only when `len == 0`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SlipstreamBytes {
    /// `const uint8_t *ptr`.
    pub ptr: *const u8,
    /// `uint64_t len`.
    pub len: u64,
}

impl SlipstreamBytes {
    /// The empty byte string (`{NULL, 0}`).
    pub const EMPTY: SlipstreamBytes = SlipstreamBytes { ptr: std::ptr::null(), len: 0 };

    /// Borrows `bytes` (the result is only valid while `bytes` is).
    pub fn from_slice(bytes: &[u8]) -> SlipstreamBytes {
        if bytes.is_empty() {
            SlipstreamBytes::EMPTY
        } else {
            SlipstreamBytes { ptr: bytes.as_ptr(), len: bytes.len() as u64 }
        }
    }
}

/// The `mapping_update` member of the event union.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SlipstreamMappingUpdate {
    /// Program ID, node encoding.
    pub program_id: SlipstreamBytes,
    /// Mapping name, node encoding.
    pub mapping_name: SlipstreamBytes,
    /// Key, node encoding.
    pub key: SlipstreamBytes,
    /// New value, node encoding.
    pub value: SlipstreamBytes,
}

/// The `mapping_removal` member of the event union.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SlipstreamMappingRemoval {
    /// Program ID, node encoding.
    pub program_id: SlipstreamBytes,
    /// Mapping name, node encoding.
    pub mapping_name: SlipstreamBytes,
    /// The removed key when `has_key == 1`; empty otherwise.
    pub key: SlipstreamBytes,
    /// 1: `key` was removed; 0: the whole mapping was removed.
    pub has_key: u8,
    /// Zero.
    pub reserved: [u8; 7],
}

/// The `staking_reward` member of the event union.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SlipstreamStakingReward {
    /// Staker address, node encoding.
    pub staker: SlipstreamBytes,
    /// Validator address, node encoding.
    pub validator: SlipstreamBytes,
    /// Reward in microcredits: saturating(new − old).
    pub reward: u64,
    /// The staker's stake after the reward.
    pub new_stake: u64,
}

/// The `block` member of the event union.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SlipstreamBlock {
    /// The committed block, node encoding.
    pub block: SlipstreamBytes,
}

/// The anonymous union of `slipstream_event`; `kind` says which member is valid.
#[repr(C)]
#[derive(Clone, Copy)]
pub union SlipstreamEventPayload {
    /// Valid when `kind == SLIPSTREAM_EVENT_MAPPING_UPDATE`.
    pub mapping_update: SlipstreamMappingUpdate,
    /// Valid when `kind == SLIPSTREAM_EVENT_MAPPING_REMOVAL`.
    pub mapping_removal: SlipstreamMappingRemoval,
    /// Valid when `kind == SLIPSTREAM_EVENT_STAKING_REWARD`.
    pub staking_reward: SlipstreamStakingReward,
    /// Valid when `kind == SLIPSTREAM_EVENT_BLOCK`.
    pub block: SlipstreamBlock,
    /// Fixes the union at 96 bytes.
    pub reserved: [u64; 12],
}

/// `slipstream_event`: one event, 104 bytes; arrays of it have that stride.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SlipstreamEvent {
    /// `SLIPSTREAM_EVENT_*`.
    pub kind: u32,
    /// Height of the block being finalized.
    pub block_height: u32,
    /// The anonymous union of the C struct.
    pub payload: SlipstreamEventPayload,
}

impl std::fmt::Debug for SlipstreamEventPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlipstreamEventPayload { .. }")
    }
}

impl std::fmt::Debug for SlipstreamEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlipstreamEvent")
            .field("kind", &self.kind)
            .field("block_height", &self.block_height)
            .finish_non_exhaustive()
    }
}

/// `log` in [`SlipstreamHost`].
pub type SlipstreamLogFn = unsafe extern "C" fn(ctx: *mut c_void, level: i32, msg: *const c_char);
/// `config_get` in [`SlipstreamHost`].
pub type SlipstreamConfigGetFn =
    unsafe extern "C" fn(ctx: *mut c_void, key: *const c_char, buf: *mut c_char, cap: u64) -> i64;

/// `slipstream_host`: functions the host offers the plugin; valid until `destroy` returns.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SlipstreamHost {
    /// `sizeof(slipstream_host)` at the host's build.
    pub struct_size: u32,
    /// Zero.
    pub reserved: u32,
    /// Passed back unchanged.
    pub ctx: *mut c_void,
    /// Writes a message to the node's log; callable from any thread.
    pub log: Option<SlipstreamLogFn>,
    /// Reads a top-level config value as text; only during `on_load`.
    pub config_get: Option<SlipstreamConfigGetFn>,
}

/// `slipstream_load_args`: what `on_load` receives.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SlipstreamLoadArgs {
    /// `sizeof(slipstream_load_args)` at the host's build.
    pub struct_size: u32,
    /// 1 when called by `ReloadPlugin`.
    pub is_reload: u8,
    /// Zero.
    pub reserved: [u8; 3],
    /// Absolute path of the config file.
    pub config_file: *const c_char,
    /// The whole config as strict JSON.
    pub config_json: *const c_char,
    /// Host services; valid until `destroy` returns.
    pub host: *const SlipstreamHost,
}

/// `name` in the vtable.
pub type SlipstreamNameFn = unsafe extern "C" fn(this: *const SlipstreamPlugin) -> *const c_char;
/// `destroy` in the vtable.
pub type SlipstreamDestroyFn = unsafe extern "C" fn(this: *mut SlipstreamPlugin);
/// `on_load` in the vtable.
pub type SlipstreamOnLoadFn = unsafe extern "C" fn(
    this: *mut SlipstreamPlugin,
    args: *const SlipstreamLoadArgs,
    err: *mut SlipstreamError,
) -> i32;
/// `on_unload` in the vtable.
pub type SlipstreamOnUnloadFn = unsafe extern "C" fn(this: *mut SlipstreamPlugin);
/// `subscribed_events` in the vtable.
pub type SlipstreamSubscribedEventsFn = unsafe extern "C" fn(this: *const SlipstreamPlugin) -> u64;
/// `on_broadcast` in the vtable.
pub type SlipstreamOnBroadcastFn =
    unsafe extern "C" fn(this: *mut SlipstreamPlugin, event: *const SlipstreamEvent, err: *mut SlipstreamError) -> i32;
/// `on_broadcast_batch` in the vtable.
pub type SlipstreamOnBroadcastBatchFn = unsafe extern "C" fn(
    this: *mut SlipstreamPlugin,
    events: *const SlipstreamEvent,
    count: u64,
    err: *mut SlipstreamError,
) -> i32;
/// `resume_height` in the vtable (ABI 1.1).
pub type SlipstreamResumeHeightFn =
    unsafe extern "C" fn(this: *mut SlipstreamPlugin, height: *mut u64, err: *mut SlipstreamError) -> i32;

/// `slipstream_plugin_vtable`: the plugin's functions.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SlipstreamPluginVtable {
    /// `sizeof(slipstream_plugin_vtable)` at the plugin's build.
    pub struct_size: u32,
    /// `SLIPSTREAM_ABI_MAJOR`.
    pub abi_major: u16,
    /// `SLIPSTREAM_ABI_MINOR`.
    pub abi_minor: u16,
    /// Required.
    pub name: Option<SlipstreamNameFn>,
    /// Required.
    pub destroy: Option<SlipstreamDestroyFn>,
    /// Optional.
    pub on_load: Option<SlipstreamOnLoadFn>,
    /// Optional.
    pub on_unload: Option<SlipstreamOnUnloadFn>,
    /// Optional.
    pub subscribed_events: Option<SlipstreamSubscribedEventsFn>,
    /// Optional.
    pub on_broadcast: Option<SlipstreamOnBroadcastFn>,
    /// Optional.
    pub on_broadcast_batch: Option<SlipstreamOnBroadcastBatchFn>,
    /// Optional, ABI 1.1: the first block height the plugin still needs. Absent in 1.0
    /// vtables (their `struct_size` is 64), which hosts read as NULL.
    pub resume_height: Option<SlipstreamResumeHeightFn>,
}

/// `struct slipstream_plugin`: a plugin instance starts with it.
#[repr(C)]
#[derive(Debug)]
pub struct SlipstreamPlugin {
    /// First member.
    pub vtable: *const SlipstreamPluginVtable,
}

// ---------------------------------------------------------------------------------------------
// Layout: every size and offset the ABI fixes (64-bit targets). The numbers are not written
// here: `tests/c_layout.rs` checks this table against `testdata/abi/layout.c`, the C program
// that is the single source of the layout for the Go and the Rust mirrors.
// ---------------------------------------------------------------------------------------------

/// `(C name, value)` of every struct size and field offset of the ABI, as this crate lays
/// them out. `tests/c_layout.rs` compares this table with the C compiler's view of the header.
/// Names: `sizeof(T)` and `offsetof(T, field)` exactly as written in C.
pub const LAYOUT: &[(&str, usize)] = LAYOUT_TABLE;

use std::mem::{align_of, offset_of, size_of};

/// Builds `LAYOUT_TABLE` from one line per struct, `c_name = RustType { fields }`: its size and
/// every listed field's offset, named as in C. `union u { member = Type { fields }, … }` adds
/// the members of the struct's union field `u` (`offsetof(T, member)` and
/// `offsetof(T, member.field)`). Entries `"C name" => value;` (first) are taken as written.
macro_rules! layout_table {
    (
        $( $name:literal => $actual:expr; )*
        $( $c:ident = $rust:ident { $($f:ident),* $(,)? }
            $( union $u:ident { $( $m:ident = $mty:ident { $($mf:ident),* $(,)? } ),* $(,)? } )? ; )*
    ) => {
        const LAYOUT_TABLE: &[(&str, usize)] = &[
            $(
                (concat!("sizeof(", stringify!($c), ")"), size_of::<$rust>()),
                $( (concat!("offsetof(", stringify!($c), ", ", stringify!($f), ")"), offset_of!($rust, $f)), )*
                $( $(
                    (concat!("offsetof(", stringify!($c), ", ", stringify!($m), ")"), offset_of!($rust, $u)),
                    $( (
                        concat!("offsetof(", stringify!($c), ", ", stringify!($m), ".", stringify!($mf), ")"),
                        offset_of!($rust, $u) + offset_of!($mty, $mf),
                    ), )*
                )* )?
            )*
            $( ($name, $actual), )*
        ];
    };
}

layout_table! {
    "_Alignof(slipstream_event)" => align_of::<SlipstreamEvent>();
    "offsetof(slipstream_event, reserved)" => offset_of!(SlipstreamEvent, payload);
    "sizeof(((slipstream_event *)0)->reserved)" => size_of::<SlipstreamEventPayload>();
    slipstream_error = SlipstreamError { buf, cap };
    slipstream_bytes = SlipstreamBytes { ptr, len };
    slipstream_event = SlipstreamEvent { kind, block_height } union payload {
        mapping_update = SlipstreamMappingUpdate { program_id, mapping_name, key, value },
        mapping_removal = SlipstreamMappingRemoval { program_id, mapping_name, key, has_key, reserved },
        staking_reward = SlipstreamStakingReward { staker, validator, reward, new_stake },
        block = SlipstreamBlock { block },
    };
    slipstream_host = SlipstreamHost { struct_size, reserved, ctx, log, config_get };
    slipstream_load_args = SlipstreamLoadArgs { struct_size, is_reload, reserved, config_file, config_json, host };
    slipstream_plugin_vtable = SlipstreamPluginVtable {
        struct_size, abi_major, abi_minor, name, destroy, on_load, on_unload, subscribed_events,
        on_broadcast, on_broadcast_batch, resume_height,
    };
    slipstream_plugin = SlipstreamPlugin { vtable };
}

// Option<extern fn> must be pointer-sized with NULL as None (guaranteed; checked anyway).
const _: () = assert!(size_of::<Option<SlipstreamLogFn>>() == size_of::<*const c_void>());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_masks() {
        assert_eq!(SLIPSTREAM_ABI_VERSION, 0x0001_0001);
        assert_eq!(slipstream_mask(SLIPSTREAM_EVENT_BLOCK), 8);
        assert_eq!(SLIPSTREAM_MASK_ALL, 0b1111);
    }

    #[test]
    fn layout_table_names_are_unique() {
        let mut names: Vec<&str> = LAYOUT.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
