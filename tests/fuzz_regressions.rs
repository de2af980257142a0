//! The fuzz targets' inputs replayed through their checks (`fuzz/src/lib.rs`, included here):
//! every seed (`fuzz/seeds/<target>/`) and every saved finding (`fuzz/regressions/<target>/`,
//! each named for the bug it found). Runs in a second; no AFL needed.

#![cfg(feature = "server")]

use std::fs;
use std::path::{Path, PathBuf};

#[allow(dead_code, unreachable_pub)] // the fuzz binaries use the rest
#[path = "../fuzz/src/lib.rs"]
mod targets;

/// `fuzz/<kind>/<target>/*`, sorted; none if the folder does not exist.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let mut n = 0;
    for target in targets::TARGETS {
        for file in inputs(kind, target) {
            let data = fs::read(&file).expect("an input");
            // A failed check panics; the message names the input to replay it alone.
            eprintln!("{target}: {}", file.display());
            assert!(targets::run(target, &data));
            n += 1;
        }
    }
    n
}

#[test]
fn seeds_pass_every_check() {
    assert!(replay("seeds") > 0, "no seeds found");
}

#[test]
fn saved_findings_stay_fixed() {
    replay("regressions");
}
