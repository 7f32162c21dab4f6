//! Compares the Rust mirrors with the C compiler's view of `include/slipstream.h`. The facts come
//! from `testdata/abi/layout.c`, the single source of the ABI's layout that the Go layout test
//! reads too: every struct's size and alignment, every field's offset and size, every constant,
//! one `EXPRESSION<TAB>VALUE` line each. Both directions are checked: an entry of
//! `ffi::LAYOUT` or of the constants below that the C program does not print fails, and so does
//! a struct size, field offset or constant the C program prints that Rust does not mirror.
//!
//! Needs a C compiler: `$CC`, else `cc`.

use slipstream_plugin::ffi;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

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
        ("SLIPSTREAM_MASK_ALL", ffi::SLIPSTREAM_MASK_ALL as i128),
        ("SLIPSTREAM_LOG_TRACE", ffi::SLIPSTREAM_LOG_TRACE as i128),
        ("SLIPSTREAM_LOG_DEBUG", ffi::SLIPSTREAM_LOG_DEBUG as i128),
        ("SLIPSTREAM_LOG_INFO", ffi::SLIPSTREAM_LOG_INFO as i128),
        ("SLIPSTREAM_LOG_WARN", ffi::SLIPSTREAM_LOG_WARN as i128),
        ("SLIPSTREAM_LOG_ERROR", ffi::SLIPSTREAM_LOG_ERROR as i128),
    ]
}

fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root")
}

/// Compiles and runs testdata/abi/layout.c; returns its `expression -> value` lines.
fn c_layout() -> BTreeMap<String, i128> {
    let repo = repo_dir();
    // One directory per call: the tests run in parallel threads of one process, and one must
    // not remove (or rewrite) the program another is running.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("c_layout_{}_{call}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("layout");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let out = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(repo.join("include"))
        .arg(repo.join("testdata/abi/layout.c"))
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

/// A line of layout.c that states a layout fact rather than a constant.
fn is_layout(expr: &str) -> bool {
    expr.starts_with("sizeof(") || expr.starts_with("offsetof(") || expr.starts_with("_Alignof(")
}

/// The facts Rust must mirror: struct sizes and field offsets (field sizes and alignments
/// follow from the Rust types; LAYOUT may check them, it need not).
fn must_mirror(expr: &str) -> bool {
    expr.starts_with("offsetof(") || (expr.starts_with("sizeof(slipstream_") && !expr.contains("->"))
}

#[test]
fn struct_layout_matches_the_c_header() {
    let c = c_layout();
    let rust: BTreeMap<String, i128> = ffi::LAYOUT.iter().map(|(k, v)| (k.to_string(), *v as i128)).collect();
    let mut problems = Vec::new();
    for (k, rv) in &rust {
        match c.get(k) {
            None => problems.push(format!("{k}: in ffi::LAYOUT, not printed by testdata/abi/layout.c")),
            Some(cv) if cv != rv => problems.push(format!("{k}: C {cv}, Rust {rv}")),
            _ => {}
        }
    }
    for k in c.keys().filter(|k| must_mirror(k) && !rust.contains_key(*k)) {
        problems.push(format!("{k}: printed by testdata/abi/layout.c, missing in ffi::LAYOUT"));
    }
    assert!(problems.is_empty(), "layout mismatches:\n{}", problems.join("\n"));
}

#[test]
fn constants_match_the_c_header() {
    let c = c_layout();
    let rust: BTreeMap<&str, i128> = constants().into_iter().collect();
    let mut problems = Vec::new();
    for (e, rv) in &rust {
        match c.get(*e) {
            None => problems.push(format!("{e}: in the Rust constants, not printed by testdata/abi/layout.c")),
            Some(cv) if cv != rv => problems.push(format!("{e}: C {cv}, Rust {rv}")),
            _ => {}
        }
    }
    for k in c.keys().filter(|k| !is_layout(k) && !rust.contains_key(k.as_str())) {
        problems.push(format!("{k}: printed by testdata/abi/layout.c, missing in the Rust constants"));
    }
    assert!(problems.is_empty(), "constant mismatches:\n{}", problems.join("\n"));
}
