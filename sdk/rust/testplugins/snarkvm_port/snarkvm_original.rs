//! A plugin for snarkVM's last Slipstream (4.11, `plugins/slipstream_plugin_interface`),
//! written exactly against its `SlipstreamPlugin` trait.
//!
//! It counts the events of the kinds it subscribes to and, on unload, writes one line per
//! kind to `<config file>.counts` (the config file path with the extension `counts`):
//! `MappingUpdate 12`. It reads its config file itself, as snarkVM plugins do, and fails to
//! load if the file has no `libpath`.

use anyhow::{bail, Context, Result};
use snarkvm_slipstream_plugin_interface::{BroadcastEvent, BroadcastEventKind, SlipstreamPlugin};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
struct MyPlugin {
    counts_file: Option<PathBuf>,
    updates: AtomicU64,
    removals: AtomicU64,
    rewards: AtomicU64,
    blocks: AtomicU64,
    last_height: AtomicU64,
}

impl SlipstreamPlugin for MyPlugin {
    fn name(&self) -> &'static str {
        "snarkvm-tally"
    }

    fn on_load(&mut self, config_file: &str, _is_reload: bool) -> Result<()> {
        let text = std::fs::read_to_string(config_file).with_context(|| format!("cannot read {config_file}"))?;
        if !text.contains("libpath") {
            bail!("{config_file} has no libpath");
        }
        self.counts_file = Some(PathBuf::from(config_file).with_extension("counts"));
        Ok(())
    }

    fn on_unload(&mut self) {
        let Some(path) = self.counts_file.take() else { return };
        let text = format!(
            "MappingUpdate {}\nMappingRemoval {}\nStakingReward {}\nBlock {}\nlast_height {}\n",
            self.updates.load(Ordering::Relaxed),
            self.removals.load(Ordering::Relaxed),
            self.rewards.load(Ordering::Relaxed),
            self.blocks.load(Ordering::Relaxed),
            self.last_height.load(Ordering::Relaxed),
        );
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("snarkvm-tally: cannot write {}: {e}", path.display());
        }
    }

    fn subscribed_events(&self) -> &[BroadcastEventKind] {
        &[
            BroadcastEventKind::MappingUpdate,
            BroadcastEventKind::MappingRemoval,
            BroadcastEventKind::StakingReward,
            BroadcastEventKind::Block,
        ]
    }

    fn on_broadcast(&self, event: BroadcastEvent<'_>) -> Result<()> {
        let counter = match event.kind() {
            BroadcastEventKind::MappingUpdate => &self.updates,
            BroadcastEventKind::MappingRemoval => &self.removals,
            BroadcastEventKind::StakingReward => &self.rewards,
            BroadcastEventKind::Block => &self.blocks,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match event {
            BroadcastEvent::MappingUpdate { program_id, key, .. } if program_id.is_empty() || key.is_empty() => {
                bail!("a mapping update without a program or key")
            }
            BroadcastEvent::StakingReward { reward, new_stake, .. } if reward > new_stake => {
                bail!("a staking reward of {reward} for a stake of {new_stake}")
            }
            BroadcastEvent::Block { block_height, .. } => {
                self.last_height.store(u64::from(block_height), Ordering::Relaxed);
            }
            _ => {}
        }
        Ok(())
    }
}

#[no_mangle]
pub extern "C" fn _create_plugin() -> *mut dyn SlipstreamPlugin {
    Box::into_raw(Box::new(MyPlugin::default()))
}
