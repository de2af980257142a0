//! The files of a durable store's directory, for the tests that look inside one. Included by
//! path (`#[path = "common/store_files.rs"]`) so that tests built without the `server`
//! feature can use it.

#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};

/// The files of `dir` whose names start with `prefix`, sorted by name (journals and shards
/// sort oldest first).
pub fn files_named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    files.sort();
    files
}

/// The journal files of `dir`, oldest first.
pub fn journals(dir: &Path) -> Vec<PathBuf> {
    files_named(dir, "journal-")
}
