//! Compares the Rust mirrors with the C compiler's view of `include/slipstream.h`: every struct
//! size, every field offset, and every constant. The C program lists the fields independently
//! of the Rust table, so a field missing on either side fails the test too.
//!
//! Needs a C compiler: `$CC`, else `cc`.

use slipstream_plugin::ffi;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Every size and offset of the header, as C expressions (the names `ffi::LAYOUT` uses).
const C_EXPRESSIONS: &[&str] = &[
    "sizeof(slipstream_error)",
    "offsetof(slipstream_error, buf)",
    "offsetof(slipstream_error, cap)",
    "sizeof(slipstream_bytes)",
    "offsetof(slipstream_bytes, ptr)",
    "offsetof(slipstream_bytes, len)",
    "sizeof(slipstream_event)",
    "_Alignof(slipstream_event)",
    "offsetof(slipstream_event, kind)",
    "offsetof(slipstream_event, block_height)",
    "offsetof(slipstream_event, mapping_update)",
    "offsetof(slipstream_event, reserved)",
    "sizeof(((slipstream_event *)0)->reserved)",
    "offsetof(slipstream_event, mapping_update.program_id)",
    "offsetof(slipstream_event, mapping_update.mapping_name)",
    "offsetof(slipstream_event, mapping_update.key)",
    "offsetof(slipstream_event, mapping_update.value)",
    "offsetof(slipstream_event, mapping_removal.program_id)",
    "offsetof(slipstream_event, mapping_removal.mapping_name)",
    "offsetof(slipstream_event, mapping_removal.key)",
    "offsetof(slipstream_event, mapping_removal.has_key)",
    "offsetof(slipstream_event, mapping_removal.reserved)",
    "offsetof(slipstream_event, staking_reward.staker)",
    "offsetof(slipstream_event, staking_reward.validator)",
    "offsetof(slipstream_event, staking_reward.reward)",
    "offsetof(slipstream_event, staking_reward.new_stake)",
    "offsetof(slipstream_event, block.block)",
    "sizeof(slipstream_host)",
    "offsetof(slipstream_host, struct_size)",
    "offsetof(slipstream_host, reserved)",
    "offsetof(slipstream_host, ctx)",
    "offsetof(slipstream_host, log)",
    "offsetof(slipstream_host, config_get)",
    "sizeof(slipstream_load_args)",
    "offsetof(slipstream_load_args, struct_size)",
    "offsetof(slipstream_load_args, is_reload)",
    "offsetof(slipstream_load_args, reserved)",
    "offsetof(slipstream_load_args, config_file)",
    "offsetof(slipstream_load_args, config_json)",
    "offsetof(slipstream_load_args, host)",
    "sizeof(slipstream_plugin_vtable)",
    "offsetof(slipstream_plugin_vtable, struct_size)",
    "offsetof(slipstream_plugin_vtable, abi_major)",
    "offsetof(slipstream_plugin_vtable, abi_minor)",
    "offsetof(slipstream_plugin_vtable, name)",
    "offsetof(slipstream_plugin_vtable, destroy)",
    "offsetof(slipstream_plugin_vtable, on_load)",
    "offsetof(slipstream_plugin_vtable, on_unload)",
    "offsetof(slipstream_plugin_vtable, subscribed_events)",
    "offsetof(slipstream_plugin_vtable, on_broadcast)",
    "offsetof(slipstream_plugin_vtable, on_broadcast_batch)",
    "sizeof(slipstream_plugin)",
    "offsetof(slipstream_plugin, vtable)",
];

/// Constants: (C expression, Rust value).
fn constants() -> Vec<(&'static str, i128)> {
    vec![
        ("SLIPSTREAM_ABI_MAJOR", ffi::SLIPSTREAM_ABI_MAJOR as i128),
        ("SLIPSTREAM_ABI_MINOR", ffi::SLIPSTREAM_ABI_MINOR as i128),
        ("SLIPSTREAM_ABI_VERSION", ffi::SLIPSTREAM_ABI_VERSION as i128),
        ("SLIPSTREAM_OK", ffi::SLIPSTREAM_OK as i128),
        ("SLIPSTREAM_ERROR", ffi::SLIPSTREAM_ERROR as i128),
        ("SLIPSTREAM_EVENT_MAPPING_UPDATE", ffi::SLIPSTREAM_EVENT_MAPPING_UPDATE as i128),
        ("SLIPSTREAM_EVENT_MAPPING_REMOVAL", ffi::SLIPSTREAM_EVENT_MAPPING_REMOVAL as i128),
        ("SLIPSTREAM_EVENT_STAKING_REWARD", ffi::SLIPSTREAM_EVENT_STAKING_REWARD as i128),
        ("SLIPSTREAM_EVENT_BLOCK", ffi::SLIPSTREAM_EVENT_BLOCK as i128),
        ("SLIPSTREAM_EVENT_KIND_COUNT", ffi::SLIPSTREAM_EVENT_KIND_COUNT as i128),
        ("SLIPSTREAM_MASK(SLIPSTREAM_EVENT_BLOCK)", ffi::slipstream_mask(ffi::SLIPSTREAM_EVENT_BLOCK) as i128),
        ("SLIPSTREAM_MASK_ALL", ffi::SLIPSTREAM_MASK_ALL as i128),
        ("SLIPSTREAM_LOG_TRACE", ffi::SLIPSTREAM_LOG_TRACE as i128),
        ("SLIPSTREAM_LOG_DEBUG", ffi::SLIPSTREAM_LOG_DEBUG as i128),
        ("SLIPSTREAM_LOG_INFO", ffi::SLIPSTREAM_LOG_INFO as i128),
        ("SLIPSTREAM_LOG_WARN", ffi::SLIPSTREAM_LOG_WARN as i128),
        ("SLIPSTREAM_LOG_ERROR", ffi::SLIPSTREAM_LOG_ERROR as i128),
    ]
}

fn include_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../include").canonicalize().expect("include/ exists")
}

/// Compiles and runs a C program printing `expr<TAB>value` lines; returns them as a map.
fn c_values(exprs: &[&str]) -> BTreeMap<String, i128> {
    let mut src =
        String::from("#include <stdio.h>\n#include <stddef.h>\n#include \"slipstream.h\"\nint main(void) {\n");
    for e in exprs {
        src.push_str(&format!("    printf(\"%s\\t%lld\\n\", {e:?}, (long long)({e}));\n"));
    }
    src.push_str("    return 0;\n}\n");

    static RUN: AtomicUsize = AtomicUsize::new(0);
    let run_id = RUN.fetch_add(1, Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("c_layout_{}_{run_id}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c_file = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&c_file, src).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let out = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(include_dir())
        .arg(&c_file)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {cc:?}: {e}"));
    assert!(out.status.success(), "C compile failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let run = Command::new(&exe).output().expect("run the layout program");
    assert!(run.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('\t').expect("expr<TAB>value");
            (k.to_string(), v.parse().expect("a number"))
        })
        .collect()
}

#[test]
fn struct_layout_matches_the_c_header() {
    let c = c_values(C_EXPRESSIONS);
    assert_eq!(c.len(), C_EXPRESSIONS.len(), "duplicate C expressions");
    let rust: BTreeMap<String, i128> = ffi::LAYOUT.iter().map(|(k, v)| (k.to_string(), *v as i128)).collect();
    let mut problems = Vec::new();
    for (k, cv) in &c {
        match rust.get(k) {
            None => problems.push(format!("{k}: C {cv}, missing in ffi::LAYOUT")),
            Some(rv) if rv != cv => problems.push(format!("{k}: C {cv}, Rust {rv}")),
            _ => {}
        }
    }
    for k in rust.keys().filter(|k| !c.contains_key(*k)) {
        problems.push(format!("{k}: in ffi::LAYOUT, not checked against C"));
    }
    assert!(problems.is_empty(), "layout mismatches:\n{}", problems.join("\n"));
}

#[test]
fn constants_match_the_c_header() {
    let consts = constants();
    let exprs: Vec<&str> = consts.iter().map(|(e, _)| *e).collect();
    let c = c_values(&exprs);
    for (e, rv) in consts {
        assert_eq!(c[e], rv, "{e}");
    }
}
