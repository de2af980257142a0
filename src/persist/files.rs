//! The store directory's file system work: crash-safe writes (temp file in the same
//! directory, write, fsync, rename, fsync the directory), and the removal and cutting of
//! files that recovery and snapshots do. Every I/O error leaves here with its path.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::format::{is_snapshot_file_name, Manifest};
use super::journal_format::parse_file_name as parse_journal_name;
use crate::StoreError;

/// `StoreError::Io` for an I/O error on `path`: `.map_err(io_error(path))`.
pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The suffix of files being written; any left at open are from a crash and are removed.
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// Writes `name` in `dir` so that after a crash it holds either its old or its new content.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    let path = write_renamed(dir, name, bytes)?;
    sync_dir(dir).map_err(io_error(&path))?;
    Ok(path)
}

/// Like [`write_atomic`] but without the directory fsync, for several files written in a row
/// and made durable by one [`sync_dir`] at the end.
pub(crate) fn write_renamed(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    let path = dir.join(name);
    let temp = dir.join(format!("{name}{TEMP_SUFFIX}"));
    let result = (|| {
        let mut f = File::create(&temp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&temp, &path)
    })();
    match result {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = fs::remove_file(&temp);
            Err(io_error(&path)(e))
        }
    }
}

/// Makes the directory's entries (creations, renames, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Opens `path` for reading and writing at offsets, creating it; with `truncate`, empty.
pub(crate) fn open_rw(path: &Path, truncate: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .open(path)
}

/// Writes all of `bytes` at `offset`, leaving the file's cursor alone.
#[cfg(unix)]
pub(crate) fn write_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

/// Writes all of `bytes` at `offset`.
#[cfg(windows)]
pub(crate) fn write_at(file: &File, mut bytes: &[u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !bytes.is_empty() {
        match file.seek_write(bytes, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                bytes = &bytes[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes temp files a crash left behind; returns their names.
pub(crate) fn remove_temp_files(dir: &Path) -> io::Result<Vec<String>> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(TEMP_SUFFIX) && entry.file_type()?.is_file() {
            fs::remove_file(entry.path())?;
            removed.push(name);
        }
    }
    if !removed.is_empty() {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Cuts a file to `len` bytes (a torn line off the end of a journal), durably.
pub(crate) fn cut_file(path: &Path, len: usize) -> Result<(), StoreError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_error(path))?;
    file.set_len(len as u64).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

/// Best effort: removes journals older than `journal` and snapshot files `manifest` does not
/// name. What is left is ignored at open and removed by the next snapshot.
pub(crate) fn remove_replaced_files(dir: &Path, journal: u64, manifest: &Manifest) {
    let current: HashSet<&str> = manifest
        .shards
        .iter()
        .filter_map(|s| s.file.as_deref())
        .chain(manifest.agents.as_deref())
        .collect();
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let old_journal = parse_journal_name(name).is_some_and(|n| n < journal);
        let old_snapshot_file = is_snapshot_file_name(&path) && !current.contains(name);
        if old_journal || old_snapshot_file {
            let _ = fs::remove_file(&path);
        }
    }
    let _ = sync_dir(dir);
}

/// The directory and file name of `path`, for [`write_atomic`].
pub(crate) fn split_path(path: &Path) -> Result<(PathBuf, String), StoreError> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        io_error(path)(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file name",
        ))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_owned()))
}
