//! A Slipstream test plugin that panics inside `on_broadcast`, to check that the host turns
//! the panic into a logged, counted error, stays alive, and keeps delivering later events.
//!
//! Name: `panicky`. Subscribes to every kind. Config keys (all optional):
//! - `panic_kinds`: the kinds whose events panic, a JSON list or one name (default: every kind);
//! - `panic_every`: panic on every Nth event of those kinds, counting from 1 (default 1: all);
//! - `record`: a file (relative to the config's directory) that gets one line per delivered
//!   event, written and flushed *before* any panic: `<Kind> <height> panic|ok`;
//! - `panic_in_on_load`: `true` to panic inside `on_load` instead (the load then fails).
//!
//! The panic message is `deliberate panic on <Kind> at height <h>`; the host receives it in
//! the error as `panic in on_broadcast: deliberate panic on <Kind> at height <h> (at <file:line:col>)`.

use slipstream_plugin::{
    bail, declare_plugin, host, BroadcastEvent, BroadcastEventKind, Context, Result, SlipstreamPlugin,
};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
struct Panicky {
    panic_kinds: Vec<BroadcastEventKind>,
    every: u64,
    seen: AtomicU64,
    record: Option<Mutex<File>>,
}

impl SlipstreamPlugin for Panicky {
    fn name(&self) -> &'static str {
        "panicky"
    }

    fn on_load(&mut self, config_file: &str, _is_reload: bool) -> Result<()> {
        if host::config("panic_in_on_load").as_deref() == Some("true") {
            panic!("deliberate panic in on_load");
        }
        self.panic_kinds = match host::config("panic_kinds") {
            Some(text) => parse_names(&text)?,
            None => BroadcastEventKind::ALL.to_vec(),
        };
        self.every = match host::config("panic_every") {
            Some(n) => n.trim().parse().context("config key `panic_every`")?,
            None => 1,
        };
        if self.every == 0 {
            bail!("config key `panic_every` must be at least 1");
        }
        if let Some(rec) = host::config("record") {
            let dir = Path::new(config_file).parent().unwrap_or(Path::new("."));
            let path = dir.join(rec);
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            self.record = Some(Mutex::new(f));
        }
        host::info("loaded; on_broadcast will panic");
        Ok(())
    }

    fn subscribed_events(&self) -> &[BroadcastEventKind] {
        &BroadcastEventKind::ALL
    }

    fn on_broadcast(&self, event: BroadcastEvent<'_>) -> Result<()> {
        let kind = event.kind();
        let h = event.block_height();
        let panics = self.panic_kinds.contains(&kind) && {
            let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
            n % self.every == 0
        };
        if let Some(rec) = &self.record {
            let mut f = rec.lock().unwrap_or_else(|e| e.into_inner());
            writeln!(f, "{kind} {h} {}", if panics { "panic" } else { "ok" })?;
        }
        if panics {
            panic!("deliberate panic on {kind} at height {h}");
        }
        Ok(())
    }
}

/// A JSON list of kind names (`["Block","MappingUpdate"]`) or one bare name.
fn parse_names(text: &str) -> Result<Vec<BroadcastEventKind>> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    inner
        .split(',')
        .map(|n| n.trim().trim_matches('"'))
        .filter(|n| !n.is_empty())
        .map(|n| BroadcastEventKind::parse(n).with_context(|| format!("config key `panic_kinds`: unknown kind {n:?}")))
        .collect()
}

declare_plugin!(Panicky::default());

#[cfg(test)]
mod tests {
    use super::*;
    use slipstream_plugin::testing::{FakeHost, TestPlugin};

    #[test]
    fn panics_become_errors_and_delivery_continues() {
        let dir = std::env::temp_dir().join(format!("slipstream-panicky-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let host = FakeHost::new();
        host.set_config("panic_kinds", r#"["MappingUpdate"]"#).set_config("record", "rec.txt");
        let mut p = TestPlugin::from_create_fn(_create_plugin, &host).unwrap();
        assert_eq!(p.name(), "panicky");
        p.load(dir.join("c.json5").to_str().unwrap(), false).unwrap();
        let upd = BroadcastEvent::MappingUpdate {
            program_id: b"p",
            mapping_name: b"m",
            key: b"k",
            value: b"v",
            block_height: 3,
        };
        let err = p.broadcast(&upd).unwrap_err();
        assert!(err.starts_with("panic in on_broadcast: deliberate panic on MappingUpdate at height 3 (at "), "{err}");
        p.broadcast(&BroadcastEvent::Block { block: b"b", block_height: 3 }).unwrap();
        let err = p.broadcast_batch(&[upd, BroadcastEvent::Block { block: b"b", block_height: 4 }]).unwrap_err();
        assert!(err.contains("deliberate panic on MappingUpdate"), "{err}");
        p.unload();
        let rec = std::fs::read_to_string(dir.join("rec.txt")).unwrap();
        assert_eq!(rec, "MappingUpdate 3 panic\nBlock 3 ok\nMappingUpdate 3 panic\nBlock 4 ok\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn panic_in_on_load_fails_the_load() {
        let host = FakeHost::new();
        host.set_config("panic_in_on_load", "true");
        let mut p = TestPlugin::from_create_fn(_create_plugin, &host).unwrap();
        assert!(p.load("/c.json5", false).unwrap_err().starts_with("panic in on_load: deliberate panic in on_load"));
    }

    #[test]
    fn names() {
        assert_eq!(parse_names("Block").unwrap(), vec![BroadcastEventKind::Block]);
        assert_eq!(
            parse_names(r#"[ "block", "staking_reward" ]"#).unwrap(),
            vec![BroadcastEventKind::Block, BroadcastEventKind::StakingReward]
        );
        assert!(parse_names(r#"["nope"]"#).is_err());
    }
}
