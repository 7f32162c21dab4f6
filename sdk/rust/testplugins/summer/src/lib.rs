//! The benchmarks' "same work" plugin in Rust: it subscribes to every kind and adds up every
//! byte of every event it receives, as `testdata/plugins/noop.c` built with `-DNOOP_SUM` does
//! in C and the Go-native plugin of the host benchmarks does in Go. The sum is kept so the
//! work cannot be optimized away.

use slipstream_plugin::{declare_plugin, BroadcastEvent, BroadcastEventKind, Result, SlipstreamPlugin};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
struct Summer {
    sum: AtomicU64,
}

fn add(bytes: &[u8]) -> u64 {
    bytes.iter().map(|&b| u64::from(b)).sum()
}

impl SlipstreamPlugin for Summer {
    fn name(&self) -> &'static str {
        "summer"
    }

    fn subscribed_events(&self) -> &[BroadcastEventKind] {
        &BroadcastEventKind::ALL
    }

    fn on_broadcast(&self, event: BroadcastEvent<'_>) -> Result<()> {
        let s = match event {
            BroadcastEvent::MappingUpdate { program_id, mapping_name, key, value, .. } => {
                add(program_id) + add(mapping_name) + add(key) + add(value)
            }
            BroadcastEvent::MappingRemoval { program_id, mapping_name, key, .. } => {
                add(program_id) + add(mapping_name) + key.map_or(0, add)
            }
            BroadcastEvent::StakingReward { staker, validator, reward, new_stake, .. } => {
                add(staker) + add(validator) + reward + new_stake
            }
            BroadcastEvent::Block { block, .. } => add(block),
        };
        self.sum.fetch_add(s, Ordering::Relaxed);
        Ok(())
    }
}

declare_plugin!(Summer::default());
