//! Events, with snarkVM's names: [`BroadcastEventKind`] and [`BroadcastEvent`].

use crate::ffi;
use std::fmt;

/// Discriminant-only companion to [`BroadcastEvent`], used by
/// [`SlipstreamPlugin::subscribed_events`](crate::SlipstreamPlugin::subscribed_events) to
/// declare which events a plugin wishes to receive.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BroadcastEventKind {
    /// Mapping key-value update during canonical finalize.
    MappingUpdate,
    /// Mapping key or mapping removal during canonical finalize.
    MappingRemoval,
    /// Staking reward distribution during canonical finalize.
    StakingReward,
    /// Canonical block committed to the ledger.
    Block,
}

impl BroadcastEventKind {
    /// Every kind, in ABI order.
    pub const ALL: [BroadcastEventKind; 4] = [
        BroadcastEventKind::MappingUpdate,
        BroadcastEventKind::MappingRemoval,
        BroadcastEventKind::StakingReward,
        BroadcastEventKind::Block,
    ];

    /// The kind's name as in snarkVM (`"MappingUpdate"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            BroadcastEventKind::MappingUpdate => "MappingUpdate",
            BroadcastEventKind::MappingRemoval => "MappingRemoval",
            BroadcastEventKind::StakingReward => "StakingReward",
            BroadcastEventKind::Block => "Block",
        }
    }

    /// The ABI constant (`SLIPSTREAM_EVENT_*`).
    pub const fn to_abi(self) -> u32 {
        match self {
            BroadcastEventKind::MappingUpdate => ffi::SLIPSTREAM_EVENT_MAPPING_UPDATE,
            BroadcastEventKind::MappingRemoval => ffi::SLIPSTREAM_EVENT_MAPPING_REMOVAL,
            BroadcastEventKind::StakingReward => ffi::SLIPSTREAM_EVENT_STAKING_REWARD,
            BroadcastEventKind::Block => ffi::SLIPSTREAM_EVENT_BLOCK,
        }
    }

    /// The kind of an ABI constant, or `None` for a kind this SDK does not know
    /// (a newer host may add kinds; plugins ignore them).
    pub const fn from_abi(kind: u32) -> Option<BroadcastEventKind> {
        match kind {
            ffi::SLIPSTREAM_EVENT_MAPPING_UPDATE => Some(BroadcastEventKind::MappingUpdate),
            ffi::SLIPSTREAM_EVENT_MAPPING_REMOVAL => Some(BroadcastEventKind::MappingRemoval),
            ffi::SLIPSTREAM_EVENT_STAKING_REWARD => Some(BroadcastEventKind::StakingReward),
            ffi::SLIPSTREAM_EVENT_BLOCK => Some(BroadcastEventKind::Block),
            _ => None,
        }
    }

    /// The kind's bit in a subscription mask (`SLIPSTREAM_MASK(kind)`).
    pub const fn mask(self) -> u64 {
        ffi::slipstream_mask(self.to_abi())
    }

    /// The subscription mask of a list of kinds.
    pub fn mask_of(kinds: &[BroadcastEventKind]) -> u64 {
        kinds.iter().fold(0, |m, k| m | k.mask())
    }

    /// Parses a kind name: snarkVM's `"MappingUpdate"`, or `"mapping_update"`,
    /// `"mapping-update"`, any case.
    pub fn parse(name: &str) -> Option<BroadcastEventKind> {
        let norm: String = name.chars().filter(|c| *c != '_' && *c != '-').map(|c| c.to_ascii_lowercase()).collect();
        BroadcastEventKind::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(&norm))
    }
}

impl fmt::Display for BroadcastEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A single event dispatched to plugins via
/// [`SlipstreamPlugin::on_broadcast`](crate::SlipstreamPlugin::on_broadcast).
///
/// All `&[u8]` fields carry the node's little-endian encodings (snarkVM's `to_bytes_le()`),
/// borrowed from the host: valid only during the call. A plugin that keeps data copies it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BroadcastEvent<'a> {
    /// A mapping key-value pair was inserted or updated during canonical finalize.
    MappingUpdate {
        /// The program ID.
        program_id: &'a [u8],
        /// The mapping name.
        mapping_name: &'a [u8],
        /// The key.
        key: &'a [u8],
        /// The new value.
        value: &'a [u8],
        /// The height of the block being finalized.
        block_height: u32,
    },
    /// A mapping key was removed, or the mapping itself was removed, during canonical finalize.
    ///
    /// `key` is absent when a whole mapping (or each mapping of a removed program) is removed.
    MappingRemoval {
        /// The program ID.
        program_id: &'a [u8],
        /// The mapping name.
        mapping_name: &'a [u8],
        /// The removed key; `None` when the whole mapping was removed.
        key: Option<&'a [u8]>,
        /// The height of the block being finalized.
        block_height: u32,
    },
    /// A staking reward was distributed to a staker during canonical finalize.
    StakingReward {
        /// The staker's address.
        staker: &'a [u8],
        /// The validator the staker is bonded to.
        validator: &'a [u8],
        /// The reward in microcredits: saturating(new stake − old stake); may be 0.
        reward: u64,
        /// The staker's stake after the reward.
        new_stake: u64,
        /// The height of the block being finalized.
        block_height: u32,
    },
    /// A block was committed. `block` is the little-endian encoding of the block.
    Block {
        /// The committed block.
        block: &'a [u8],
        /// The block's height.
        block_height: u32,
    },
}

impl<'a> BroadcastEvent<'a> {
    /// Returns the discriminant of this event.
    pub fn kind(&self) -> BroadcastEventKind {
        match self {
            BroadcastEvent::MappingUpdate { .. } => BroadcastEventKind::MappingUpdate,
            BroadcastEvent::MappingRemoval { .. } => BroadcastEventKind::MappingRemoval,
            BroadcastEvent::StakingReward { .. } => BroadcastEventKind::StakingReward,
            BroadcastEvent::Block { .. } => BroadcastEventKind::Block,
        }
    }

    /// The height of the block the event belongs to.
    pub fn block_height(&self) -> u32 {
        match *self {
            BroadcastEvent::MappingUpdate { block_height, .. }
            | BroadcastEvent::MappingRemoval { block_height, .. }
            | BroadcastEvent::StakingReward { block_height, .. }
            | BroadcastEvent::Block { block_height, .. } => block_height,
        }
    }

    /// Reads a C event.
    ///
    /// Returns `Ok(None)` for a kind this SDK does not know, and an error when a byte string
    /// is malformed (NULL pointer with a non-zero length, or longer than `isize::MAX`).
    ///
    /// # Safety
    /// `raw.kind` must name the valid union member (the host guarantees it), and every byte
    /// string of that member must point to `len` readable bytes that stay valid and unchanged
    /// for `'a`.
    #[doc(hidden)]
    pub unsafe fn from_raw(raw: &'a ffi::SlipstreamEvent) -> Result<Option<BroadcastEvent<'a>>, &'static str> {
        let h = raw.block_height;
        // SAFETY (all union reads below): the caller guarantees `kind` names the valid member.
        let ev = match raw.kind {
            ffi::SLIPSTREAM_EVENT_MAPPING_UPDATE => {
                let m = &raw.payload.mapping_update;
                BroadcastEvent::MappingUpdate {
                    program_id: bytes(&m.program_id)?,
                    mapping_name: bytes(&m.mapping_name)?,
                    key: bytes(&m.key)?,
                    value: bytes(&m.value)?,
                    block_height: h,
                }
            }
            ffi::SLIPSTREAM_EVENT_MAPPING_REMOVAL => {
                let m = &raw.payload.mapping_removal;
                BroadcastEvent::MappingRemoval {
                    program_id: bytes(&m.program_id)?,
                    mapping_name: bytes(&m.mapping_name)?,
                    key: if m.has_key != 0 { Some(bytes(&m.key)?) } else { None },
                    block_height: h,
                }
            }
            ffi::SLIPSTREAM_EVENT_STAKING_REWARD => {
                let s = &raw.payload.staking_reward;
                BroadcastEvent::StakingReward {
                    staker: bytes(&s.staker)?,
                    validator: bytes(&s.validator)?,
                    reward: s.reward,
                    new_stake: s.new_stake,
                    block_height: h,
                }
            }
            ffi::SLIPSTREAM_EVENT_BLOCK => {
                BroadcastEvent::Block { block: bytes(&raw.payload.block.block)?, block_height: h }
            }
            _ => return Ok(None),
        };
        Ok(Some(ev))
    }

    /// Builds the C view of this event. The result borrows this event's byte strings: it is
    /// valid only while they are. Useful to drive a plugin through its C entry points in tests
    /// (the `testing` module). Not part of the documented API (it is in terms of the C mirrors).
    #[doc(hidden)]
    pub fn to_raw(&self) -> ffi::SlipstreamEvent {
        use ffi::SlipstreamBytes as B;
        let mut payload = ffi::SlipstreamEventPayload { reserved: [0; 12] };
        match *self {
            BroadcastEvent::MappingUpdate { program_id, mapping_name, key, value, .. } => {
                payload.mapping_update = ffi::SlipstreamMappingUpdate {
                    program_id: B::from_slice(program_id),
                    mapping_name: B::from_slice(mapping_name),
                    key: B::from_slice(key),
                    value: B::from_slice(value),
                };
            }
            BroadcastEvent::MappingRemoval { program_id, mapping_name, key, .. } => {
                payload.mapping_removal = ffi::SlipstreamMappingRemoval {
                    program_id: B::from_slice(program_id),
                    mapping_name: B::from_slice(mapping_name),
                    key: key.map_or(B::EMPTY, B::from_slice),
                    has_key: key.is_some() as u8,
                    reserved: [0; 7],
                };
            }
            BroadcastEvent::StakingReward { staker, validator, reward, new_stake, .. } => {
                payload.staking_reward = ffi::SlipstreamStakingReward {
                    staker: B::from_slice(staker),
                    validator: B::from_slice(validator),
                    reward,
                    new_stake,
                };
            }
            BroadcastEvent::Block { block, .. } => {
                payload.block = ffi::SlipstreamBlock { block: B::from_slice(block) };
            }
        }
        ffi::SlipstreamEvent { kind: self.kind().to_abi(), block_height: self.block_height(), payload }
    }
}

/// Borrows a C byte string.
///
/// # Safety
/// When `b.len > 0`, `b.ptr` must point to `b.len` readable bytes valid for `'a`.
unsafe fn bytes<'a>(b: &ffi::SlipstreamBytes) -> Result<&'a [u8], &'static str> {
    if b.len == 0 {
        return Ok(&[]);
    }
    if b.ptr.is_null() {
        return Err("malformed event from host: NULL byte string with non-zero length");
    }
    let len = usize::try_from(b.len).ok().filter(|l| *l <= isize::MAX as usize);
    match len {
        // SAFETY: non-NULL, length in range, validity guaranteed by the caller.
        Some(len) => Ok(std::slice::from_raw_parts(b.ptr, len)),
        None => Err("malformed event from host: byte string too long"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in BroadcastEventKind::ALL {
            assert_eq!(BroadcastEventKind::from_abi(k.to_abi()), Some(k));
            assert_eq!(BroadcastEventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(BroadcastEventKind::from_abi(4), None);
        assert_eq!(BroadcastEventKind::parse("mapping_removal"), Some(BroadcastEventKind::MappingRemoval));
        assert_eq!(BroadcastEventKind::parse("STAKING-REWARD"), Some(BroadcastEventKind::StakingReward));
        assert_eq!(BroadcastEventKind::parse("blocks"), None);
        assert_eq!(BroadcastEventKind::mask_of(&BroadcastEventKind::ALL), ffi::SLIPSTREAM_MASK_ALL);
    }

    #[test]
    fn events_round_trip_through_the_c_view() {
        let events = [
            BroadcastEvent::MappingUpdate {
                program_id: b"credits.aleo",
                mapping_name: b"account",
                key: &[1, 2, 3],
                value: &[],
                block_height: 7,
            },
            BroadcastEvent::MappingRemoval { program_id: b"p", mapping_name: b"m", key: Some(&[]), block_height: 8 },
            BroadcastEvent::MappingRemoval { program_id: b"p", mapping_name: b"m", key: None, block_height: 9 },
            BroadcastEvent::StakingReward {
                staker: b"s",
                validator: b"v",
                reward: u64::MAX,
                new_stake: 5,
                block_height: u32::MAX,
            },
            BroadcastEvent::Block { block: &[0xff; 300], block_height: 0 },
        ];
        for ev in events {
            let raw = ev.to_raw();
            let back = unsafe { BroadcastEvent::from_raw(&raw) }.unwrap().unwrap();
            assert_eq!(back, ev);
            assert_eq!(back.kind(), ev.kind());
        }
    }

    #[test]
    fn unknown_kind_and_malformed_bytes() {
        let mut raw = BroadcastEvent::Block { block: &[], block_height: 1 }.to_raw();
        raw.kind = 42;
        assert_eq!(unsafe { BroadcastEvent::from_raw(&raw) }, Ok(None));
        raw.kind = ffi::SLIPSTREAM_EVENT_BLOCK;
        raw.payload.block.block = ffi::SlipstreamBytes { ptr: std::ptr::null(), len: 3 };
        assert!(unsafe { BroadcastEvent::from_raw(&raw) }.is_err());
    }
}
