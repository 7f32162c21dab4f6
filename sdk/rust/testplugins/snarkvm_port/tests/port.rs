//! The Rust SDK's port guide (sdk/rust/README.md, "Porting a snarkVM plugin") is checked
//! against snarkVM's last `SlipstreamPlugin` trait:
//!
//! 1. `snarkvm_original.rs`, a plugin written exactly against that trait, and `src/lib.rs`, its
//!    port, differ by exactly the `-` and `+` lines of the guide's `src/lib.rs` diff, in order;
//! 2. the port compiles (this test links it) and loads through its C entry points, and its
//!    callbacks behave as the original's: counts per kind, errors, a config file it reads
//!    itself. (e2e/rust_port_test.go loads the built library into the Go host.)

use slipstream_plugin::testing::{FakeHost, TestPlugin};
use slipstream_plugin::{ffi, BroadcastEvent};
use std::path::Path;

fn read(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The `-` and `+` lines of the guide's diff block whose first line is `// src/lib.rs`.
fn guide_diff() -> (Vec<String>, Vec<String>) {
    let readme = read("../../README.md");
    let section = readme.split("## Porting a snarkVM plugin").nth(1).expect("the port guide section");
    let section = section.split("\n## ").next().unwrap();
    let block = section
        .split("```diff\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.starts_with(" // src/lib.rs"))
        .expect("a diff block for src/lib.rs");
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    for line in block.lines() {
        if let Some(l) = line.strip_prefix('-') {
            removed.push(l.to_string());
        } else if let Some(l) = line.strip_prefix('+') {
            added.push(l.to_string());
        } else {
            assert!(line.is_empty() || line.starts_with(' '), "not a diff line: {line:?}");
        }
    }
    (removed, added)
}

/// `text`'s lines without `drop`, which must occur in `text` in this order (each after the
/// previous one); panics naming the line that does not.
fn without(what: &str, text: &str, drop: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut from = 0;
    for d in drop {
        let Some(i) = lines[from..].iter().position(|l| l == d) else {
            panic!("{what}: the guide's line {d:?} is not there (after line {from})");
        };
        lines.remove(from + i);
        from += i;
    }
    lines
}

#[test]
fn the_port_differs_from_the_snarkvm_plugin_by_exactly_the_guides_edits() {
    let (removed, added) = guide_diff();
    assert!(removed.len() >= 4 && added.len() >= 2, "guide diff: -{removed:?} +{added:?}");
    let original = without("snarkvm_original.rs", &read("snarkvm_original.rs"), &removed);
    let port = without("src/lib.rs", &read("src/lib.rs"), &added);
    assert_eq!(original.len(), port.len(), "the port has other edits than the guide's");
    for (i, (o, p)) in original.iter().zip(&port).enumerate() {
        assert_eq!(o, p, "line {} of what the edits leave differs", i + 1);
    }
    // The original is written against snarkVM's trait, with its signatures.
    let o = read("snarkvm_original.rs");
    for sig in [
        "fn name(&self) -> &'static str",
        "fn on_load(&mut self, config_file: &str, _is_reload: bool) -> Result<()>",
        "fn on_unload(&mut self)",
        "fn subscribed_events(&self) -> &[BroadcastEventKind]",
        "fn on_broadcast(&self, event: BroadcastEvent<'_>) -> Result<()>",
        "pub extern \"C\" fn _create_plugin() -> *mut dyn SlipstreamPlugin",
    ] {
        assert!(o.contains(sig), "snarkvm_original.rs lacks {sig}");
    }
    // Cargo.toml: the SDK instead of snarkVM's interface crate and anyhow.
    let toml = read("Cargo.toml");
    assert!(toml.lines().any(|l| l.starts_with("slipstream-plugin = { path = ")));
    assert!(!toml.contains("anyhow") && !toml.contains("snarkvm-slipstream-plugin-interface"));
}

#[test]
fn the_port_loads_and_counts_through_its_c_entry_points() {
    let dir = std::env::temp_dir().join(format!("snarkvm-port-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("tally.json5");
    std::fs::write(&config, "{ libpath: \"libslipstream_test_snarkvm_port.so\" }\n").unwrap();

    assert_eq!(slipstream_test_snarkvm_port::slipstream_abi_version(), ffi::SLIPSTREAM_ABI_VERSION);
    let host = FakeHost::new();
    let mut p = TestPlugin::from_create_fn(slipstream_test_snarkvm_port::_create_plugin, &host).unwrap();
    assert_eq!(p.name(), "snarkvm-tally");
    p.load(config.to_str().unwrap(), false).unwrap();
    assert_eq!(p.subscribed_events(), ffi::SLIPSTREAM_MASK_ALL);
    let events = [
        BroadcastEvent::MappingUpdate {
            program_id: b"credits.aleo",
            mapping_name: b"account",
            key: b"k",
            value: b"v",
            block_height: 7,
        },
        BroadcastEvent::MappingRemoval {
            program_id: b"credits.aleo",
            mapping_name: b"account",
            key: None,
            block_height: 7,
        },
        BroadcastEvent::StakingReward { staker: b"s", validator: b"v", reward: 3, new_stake: 10, block_height: 7 },
        BroadcastEvent::Block { block: b"block", block_height: 7 },
    ];
    p.broadcast_batch(&events).unwrap();
    p.broadcast(&BroadcastEvent::Block { block: b"block", block_height: 8 }).unwrap();
    // The original's errors, through the SDK's error plumbing.
    let bad =
        BroadcastEvent::StakingReward { staker: b"s", validator: b"v", reward: 11, new_stake: 10, block_height: 9 };
    assert_eq!(p.broadcast(&bad).unwrap_err(), "a staking reward of 11 for a stake of 10");
    p.unload();
    let counts = std::fs::read_to_string(dir.join("tally.counts")).unwrap();
    assert_eq!(counts, "MappingUpdate 1\nMappingRemoval 1\nStakingReward 2\nBlock 2\nlast_height 8\n");

    // A config file without libpath fails the load with the original's message.
    let bad_config = dir.join("bad.json5");
    std::fs::write(&bad_config, "{}\n").unwrap();
    let mut p = TestPlugin::from_create_fn(slipstream_test_snarkvm_port::_create_plugin, &host).unwrap();
    let err = p.load(bad_config.to_str().unwrap(), false).unwrap_err();
    assert_eq!(err, format!("{} has no libpath", bad_config.display()));
    drop(p);
    std::fs::remove_dir_all(&dir).unwrap();
}
