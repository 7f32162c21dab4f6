//! # The NDJSON event log: an example Slipstream plugin in Rust
//!
//! Appends every subscribed event to a file as one JSON line; byte fields as lowercase hex,
//! numbers as JSON numbers:
//!
//! ```text
//! {"kind":"MappingUpdate","block_height":7,"program_id":"6372…","mapping_name":"6163…","key":"01","value":"0900"}
//! {"kind":"MappingRemoval","block_height":7,"program_id":"…","mapping_name":"…","key":null}
//! {"kind":"StakingReward","block_height":7,"staker":"…","validator":"…","reward":17,"new_stake":1000017}
//! {"kind":"Block","block_height":7,"block":"deadbeef"}
//! ```
//!
//! Config (beside `libpath`):
//! - `path` (required): the output file, relative to the config file's directory unless
//!   absolute. Opened in append mode, so reloads and restarts extend it.
//! - `events` (optional): the kinds to log, as a JSON list (`["MappingUpdate", "Block"]`,
//!   snake_case accepted too) or a single name; default: every kind.
//!
//! Lines are buffered and flushed at every `Block` event and on unload, so a reader sees whole
//! blocks.
//!
//! ## Resuming (ABI 1.1 `resume_height`)
//!
//! The file is its own position. On load the plugin cuts the file back to the end of its last
//! complete block and answers `resume_height` with the first height not wholly in the file, so
//! a restart after `kill -9` (or a `slipstream replay` re-run) continues the file exactly as an
//! uninterrupted run would have written it. The rule, looking at the file's end:
//! - bytes after the last `\n` are a torn line: cut;
//! - the last line is a `Block` event of height H: the file is whole; resume at H + 1;
//! - otherwise the trailing lines of the last height H may be only part of block H (a kill
//!   between two writes, or an unload in mid-block): they are cut, and resume at H (the host
//!   delivers all of block H again). Block is always the last event of its block, so this
//!   holds whatever the subscription; without `Block` in `events` the last block in the file
//!   is simply written again after each restart;
//! - an empty or new file: resume at 0 (no position).
//!
//! Without a journal on a live node, the host may no longer have the events of a cut block
//! (see the README).

mod json;
mod resume;

use slipstream_plugin::{
    bail, declare_plugin, ensure, error, host, info, warn, BroadcastEvent, BroadcastEventKind, Context, Result,
    SlipstreamPlugin,
};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;

/// The plugin: the file it writes and the kinds it wants.
#[derive(Debug, Default)]
pub struct EventLog {
    kinds: Vec<BroadcastEventKind>,
    out: Mutex<Option<Output>>,
    /// What `resume_height` answers: found by [`resume::recover`] in `on_load`.
    resume: Option<u64>,
}

#[derive(Debug)]
struct Output {
    path: PathBuf,
    writer: BufWriter<File>,
    /// Reused between events.
    line: String,
}

impl SlipstreamPlugin for EventLog {
    fn name(&self) -> &'static str {
        "ndjson-event-log"
    }

    fn on_load(&mut self, _config_file: &str, _is_reload: bool) -> Result<()> {
        // Relative to the config file's directory, as the host resolves `libpath`.
        let Some(path) = host::config_path("path") else {
            bail!("config key `path` (the NDJSON output file) is required");
        };
        ensure!(!path.as_os_str().is_empty(), "config key `path` is empty");
        self.kinds = match host::config("events") {
            Some(text) => parse_kinds(&text)?,
            None => BroadcastEventKind::ALL.to_vec(),
        };
        if self.kinds.is_empty() {
            warn!("`events` is empty: this plugin will receive nothing");
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        self.resume = recover_file(&mut file).with_context(|| format!("cannot resume from {}", path.display()))?;
        let names: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
        info!("logging {} to {}", names.join(", "), path.display());
        *self.out.get_mut().unwrap_or_else(|e| e.into_inner()) =
            Some(Output { path, writer: BufWriter::with_capacity(64 * 1024, file), line: String::with_capacity(512) });
        Ok(())
    }

    fn on_unload(&mut self) {
        if let Some(mut out) = self.out.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            if let Err(e) = out.writer.flush() {
                error!("cannot flush {}: {e}", out.path.display());
            }
        }
    }

    fn subscribed_events(&self) -> &[BroadcastEventKind] {
        &self.kinds
    }

    fn resume_height(&self) -> Result<Option<u64>> {
        Ok(self.resume)
    }

    fn on_broadcast(&self, event: BroadcastEvent<'_>) -> Result<()> {
        // A panic elsewhere must not stop the log: recover the data from a poisoned lock.
        let mut guard = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let Some(out) = guard.as_mut() else { bail!("event received before on_load or after on_unload") };
        out.line.clear();
        write_line(&mut out.line, &event);
        let r = out.writer.write_all(out.line.as_bytes());
        let r =
            r.and_then(|()| if matches!(event, BroadcastEvent::Block { .. }) { out.writer.flush() } else { Ok(()) });
        r.with_context(|| format!("cannot write {}", out.path.display()))
    }
}

declare_plugin!(EventLog::default());

/// Cuts `file` back to its last complete block (see the crate docs) and returns the height to
/// resume at (`None`: an empty file).
fn recover_file(file: &mut File) -> Result<Option<u64>> {
    let len = file.seek(SeekFrom::End(0))?;
    let found = resume::recover(file, len, resume::CHUNK)?;
    if found.keep < len {
        file.set_len(found.keep)?;
        let what = match found.resume {
            Some(h) if found.cut_block => format!("the incomplete block {h}"),
            _ => "a torn last line".to_string(),
        };
        warn!("cut {} bytes ({what}) from the end of the file", len - found.keep);
    }
    if let Some(h) = found.resume {
        info!("resuming at height {h}");
    }
    Ok(found.resume)
}

/// The `events` config value: a JSON list of kind names, or one bare name (the host passes
/// strings unquoted).
fn parse_kinds(text: &str) -> Result<Vec<BroadcastEventKind>> {
    let text = text.trim();
    let names = if text.starts_with('[') {
        json::parse_string_array(text).context("config key `events`")?
    } else {
        vec![text.to_string()]
    };
    let mut kinds = Vec::new();
    for n in &names {
        let Some(k) = BroadcastEventKind::parse(n) else {
            bail!("config key `events`: unknown event kind {n:?} (known: MappingUpdate, MappingRemoval, StakingReward, Block)");
        };
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    Ok(kinds)
}

/// Appends the event's JSON line (with its `\n`) to `out`.
fn write_line(out: &mut String, event: &BroadcastEvent<'_>) {
    use std::fmt::Write as _;
    let _ = write!(out, "{{\"kind\":\"{}\",\"block_height\":{}", event.kind(), event.block_height());
    match *event {
        BroadcastEvent::MappingUpdate { program_id, mapping_name, key, value, .. } => {
            hex_field(out, "program_id", program_id);
            hex_field(out, "mapping_name", mapping_name);
            hex_field(out, "key", key);
            hex_field(out, "value", value);
        }
        BroadcastEvent::MappingRemoval { program_id, mapping_name, key, .. } => {
            hex_field(out, "program_id", program_id);
            hex_field(out, "mapping_name", mapping_name);
            match key {
                Some(key) => hex_field(out, "key", key),
                None => out.push_str(",\"key\":null"),
            }
        }
        BroadcastEvent::StakingReward { staker, validator, reward, new_stake, .. } => {
            hex_field(out, "staker", staker);
            hex_field(out, "validator", validator);
            let _ = write!(out, ",\"reward\":{reward},\"new_stake\":{new_stake}");
        }
        BroadcastEvent::Block { block, .. } => hex_field(out, "block", block),
    }
    out.push_str("}\n");
}

/// Appends `,"name":"<lowercase hex>"`.
fn hex_field(out: &mut String, name: &str, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(name.len() + 6 + 2 * bytes.len());
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":\"");
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipstream_plugin::ffi;
    use slipstream_plugin::testing::{FakeHost, TestPlugin};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let d = std::env::temp_dir().join(format!("slipstream-example-rust-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            TempDir(d)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn events() -> Vec<BroadcastEvent<'static>> {
        vec![
            BroadcastEvent::MappingUpdate {
                program_id: b"credits.aleo",
                mapping_name: b"account",
                key: &[0x00, 0xff, 0x10],
                value: &[],
                block_height: 7,
            },
            BroadcastEvent::MappingRemoval {
                program_id: b"p",
                mapping_name: b"m",
                key: Some(&[0xab]),
                block_height: 7,
            },
            BroadcastEvent::MappingRemoval { program_id: b"p", mapping_name: b"m", key: None, block_height: 7 },
            BroadcastEvent::StakingReward {
                staker: &[1],
                validator: &[2],
                reward: 0,
                new_stake: u64::MAX,
                block_height: 7,
            },
            BroadcastEvent::Block { block: &[0xde, 0xad, 0xbe, 0xef], block_height: 7 },
        ]
    }

    /// The lines of `events()`: the event JSON shared with plugins/nats (README.md there,
    /// "The event JSON"), whose Go encoder is checked against the same file.
    const EXPECTED: &str = include_str!("../../../testdata/event-json/golden.ndjson");

    fn load<'h>(host: &'h FakeHost, dir: &TempDir) -> TestPlugin<'h> {
        let mut p = TestPlugin::from_create_fn(_create_plugin, host).unwrap();
        assert_eq!(p.name(), "ndjson-event-log");
        p.load(dir.0.join("plugin.json5").to_str().unwrap(), false).unwrap();
        p
    }

    #[test]
    fn writes_every_event_as_one_line() {
        let dir = TempDir::new("all");
        let host = FakeHost::new();
        host.set_config("path", "events.ndjson");
        let mut p = load(&host, &dir);
        assert_eq!(p.subscribed_events(), ffi::SLIPSTREAM_MASK_ALL);
        for ev in &events()[..4] {
            p.broadcast(ev).unwrap();
        }
        // Buffered until the Block event...
        let file = dir.0.join("events.ndjson");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "");
        p.broadcast(&events()[4]).unwrap();
        // ...which flushes the whole block.
        assert_eq!(std::fs::read_to_string(&file).unwrap(), EXPECTED);
        // Batches write the same lines; unload flushes without a Block.
        p.broadcast_batch(&events()[..4]).unwrap();
        p.unload();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            format!("{EXPECTED}{}", EXPECTED.lines().take(4).map(|l| format!("{l}\n")).collect::<String>())
        );
        assert!(host.logged(host::Level::Info, "logging MappingUpdate, MappingRemoval, StakingReward, Block to"));
    }

    #[test]
    fn events_selects_kinds_and_reload_appends() {
        let dir = TempDir::new("filter");
        let host = FakeHost::new();
        host.set_config("path", "out/log.ndjson").set_config("events", r#"["block", "mapping_removal"]"#);
        std::fs::create_dir(dir.0.join("out")).unwrap();
        for round in 1..=2 {
            let mut p = load(&host, &dir);
            assert_eq!(
                p.subscribed_events(),
                BroadcastEventKind::Block.mask() | BroadcastEventKind::MappingRemoval.mask()
            );
            p.broadcast_batch(&events()).unwrap();
            p.unload();
            let text = std::fs::read_to_string(dir.0.join("out/log.ndjson")).unwrap();
            let want: String =
                EXPECTED.lines().skip(1).filter(|l| !l.contains("Staking")).map(|l| format!("{l}\n")).collect();
            assert_eq!(text, want.repeat(round));
        }
        // A single unquoted name works too.
        assert_eq!(parse_kinds("StakingReward").unwrap(), vec![BroadcastEventKind::StakingReward]);
        assert_eq!(parse_kinds("[]").unwrap(), vec![]);
    }

    #[test]
    fn config_errors_fail_the_load() {
        let dir = TempDir::new("errors");
        let cfg = dir.0.join("c.json5");
        let cfg = cfg.to_str().unwrap();

        let host = FakeHost::new();
        let mut p = TestPlugin::from_create_fn(_create_plugin, &host).unwrap();
        assert!(p.load(cfg, false).unwrap_err().contains("`path`"));

        let host = FakeHost::new();
        host.set_config("path", "x.ndjson").set_config("events", r#"["Block","Blocks"]"#);
        let mut p = TestPlugin::from_create_fn(_create_plugin, &host).unwrap();
        assert!(p.load(cfg, false).unwrap_err().contains("unknown event kind \"Blocks\""));

        let host = FakeHost::new();
        host.set_config("path", "x.ndjson").set_config("events", r#"["Block""#);
        let mut p = TestPlugin::from_create_fn(_create_plugin, &host).unwrap();
        assert!(p.load(cfg, false).unwrap_err().starts_with("config key `events`: invalid JSON list"));

        let host = FakeHost::new();
        host.set_config("path", "no/such/dir/x.ndjson");
        let mut p = TestPlugin::from_create_fn(_create_plugin, &host).unwrap();
        let err = p.load(cfg, false).unwrap_err();
        assert!(err.starts_with("cannot open ") && err.contains("no/such/dir/x.ndjson: "), "{err}");
    }

    /// Block `h`: an update and its Block event.
    fn block(h: u32) -> [BroadcastEvent<'static>; 2] {
        [
            BroadcastEvent::MappingUpdate {
                program_id: b"p",
                mapping_name: b"m",
                key: &[1],
                value: &[2],
                block_height: h,
            },
            BroadcastEvent::Block { block: &[0xbb], block_height: h },
        ]
    }

    /// The lines `write_line` makes of `events`.
    fn lines_of(events: &[BroadcastEvent<'_>]) -> String {
        let mut s = String::new();
        for ev in events {
            write_line(&mut s, ev);
        }
        s
    }

    #[test]
    fn resume_from_missing_empty_and_whole_files() {
        let dir = TempDir::new("resume-whole");
        let host = FakeHost::new();
        host.set_config("path", "r.ndjson");
        let file = dir.0.join("r.ndjson");
        // Missing, then empty: no position.
        for _ in 0..2 {
            let mut p = load(&host, &dir);
            assert_eq!(p.resume_height(), Ok(0));
            p.unload();
            assert_eq!(std::fs::read_to_string(&file).unwrap(), "");
        }
        // Whole blocks: the next height; the file is not touched.
        let mut p = load(&host, &dir);
        for h in [4, 5] {
            p.broadcast_batch(&block(h)).unwrap();
        }
        p.unload();
        let whole = lines_of(&[block(4), block(5)].concat());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), whole);
        let mut p = load(&host, &dir);
        assert_eq!(p.resume_height(), Ok(6));
        p.unload();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), whole);
        assert!(!host.logged(host::Level::Warn, "cut "));
    }

    #[test]
    fn resume_cuts_a_torn_line_and_a_partial_block() {
        let dir = TempDir::new("resume-cut");
        let file = dir.0.join("r.ndjson");
        let whole = lines_of(&[block(1), block(2)].concat());
        let partial = lines_of(&block(3)[..1]);
        for (name, tail, want_resume, log) in [
            ("torn line", "{\"kind\":\"Mapp".to_string(), 3, "a torn last line"),
            ("partial block", partial.clone(), 3, "the incomplete block 3"),
            ("partial block, torn line", format!("{partial}{{\"kind\":\"Blo"), 3, "the incomplete block 3"),
        ] {
            std::fs::write(&file, format!("{whole}{tail}")).unwrap();
            let host = FakeHost::new();
            host.set_config("path", "r.ndjson");
            let mut p = load(&host, &dir);
            assert_eq!(p.resume_height(), Ok(want_resume), "{name}");
            assert_eq!(std::fs::read_to_string(&file).unwrap(), whole, "{name}: cut back on load");
            assert!(
                host.logged(host::Level::Warn, &format!("cut {} bytes ({log})", tail.len())),
                "{name}: {:?}",
                host.logs()
            );
            // The host delivers from the resume height: the file continues as if never cut.
            p.broadcast_batch(&block(3)).unwrap();
            p.unload();
            assert_eq!(std::fs::read_to_string(&file).unwrap(), lines_of(&[block(1), block(2), block(3)].concat()));
        }
        // A line this plugin did not write: the load fails, the file is left alone.
        std::fs::write(&file, format!("{whole}not json\n")).unwrap();
        let host = FakeHost::new();
        host.set_config("path", "r.ndjson");
        let mut p = TestPlugin::from_create_fn(_create_plugin, &host).unwrap();
        let err = p.load(dir.0.join("c.json5").to_str().unwrap(), false).unwrap_err();
        assert!(err.starts_with("cannot resume from ") && err.contains("not an event line"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{whole}not json\n"));
    }

    /// Unloaded (or killed after a flush) in mid-block, with and without Block events: the
    /// next run ends with the same file as one uninterrupted run.
    #[test]
    fn restart_in_mid_block_equals_an_uninterrupted_run() {
        for events in ["[\"MappingUpdate\",\"Block\"]", "MappingUpdate"] {
            let dir = TempDir::new("resume-run");
            let host = FakeHost::new();
            host.set_config("path", "r.ndjson").set_config("events", events);
            let file = dir.0.join("r.ndjson");
            let all: Vec<BroadcastEvent<'static>> = (1..=5).flat_map(block).collect();
            let filtered = |evs: &[BroadcastEvent<'static>]| -> Vec<BroadcastEvent<'static>> {
                evs.iter().filter(|e| events.contains(e.kind().as_str())).cloned().collect()
            };
            let mut p = load(&host, &dir);
            assert_eq!(p.resume_height(), Ok(0));
            // Blocks 1, 2 and the first event of block 3, then unloaded (which flushes).
            for ev in filtered(&all[..5]) {
                p.broadcast(&ev).unwrap();
            }
            p.unload();
            let mut p = load(&host, &dir);
            let from = p.resume_height().unwrap();
            assert_eq!(from, 3, "{events}: block 3 was cut");
            let rest: Vec<_> = all.iter().filter(|e| u64::from(e.block_height()) >= from).cloned().collect();
            for ev in filtered(&rest) {
                p.broadcast(&ev).unwrap();
            }
            p.unload();
            assert_eq!(std::fs::read_to_string(&file).unwrap(), lines_of(&filtered(&all)), "{events}");
            // Without Block events the last block is not known to be whole: it is cut and
            // delivered again; with them the file is whole.
            let mut p = load(&host, &dir);
            assert_eq!(p.resume_height(), Ok(if events.contains("Block") { 6 } else { 5 }), "{events}");
            p.unload();
        }
    }

    #[test]
    fn path_is_relative_to_the_config_directory_unless_absolute() {
        let dir = TempDir::new("paths");
        let abs = dir.0.join("abs.ndjson");
        for (value, file) in [("rel.ndjson", dir.0.join("rel.ndjson")), (abs.to_str().unwrap(), abs.clone())] {
            let host = FakeHost::new();
            host.set_config("path", value);
            let mut p = load(&host, &dir);
            p.broadcast(&events()[4]).unwrap();
            p.unload();
            assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{}\n", EXPECTED.lines().nth(4).unwrap()));
        }
        let host = FakeHost::new();
        host.set_config("path", "");
        let mut p = TestPlugin::from_create_fn(_create_plugin, &host).unwrap();
        assert_eq!(p.load(dir.0.join("c.json5").to_str().unwrap(), false).unwrap_err(), "config key `path` is empty");
    }
}
