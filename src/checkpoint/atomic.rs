//! Crash-safe file replacement: a reader sees the old file or the new one, never half of either.
//!
//! ```text
//! write .model.safetensors.tmp.<pid>.<n>   (a new file beside the target)
//! fsync it                                 (its bytes are on disk before its name is)
//! rename it over model.safetensors         (atomic on POSIX file systems)
//! fsync the directory                      (the rename itself survives a power cut)
//! ```
//! A crash before the rename leaves the old file untouched and a stray temp file, which nothing
//! reads: its name never equals a checkpoint file's name.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Replaces `path` with `bytes` atomically: [`write_temp`] then [`commit_temp`].
///
/// ```
/// let dir = std::env::temp_dir().join(format!("gradlab-doc-atomic-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("hello.txt");
/// gradlab::checkpoint::write_atomic(&path, b"old").unwrap();
/// gradlab::checkpoint::write_atomic(&path, b"new").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"new");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = write_temp(path, bytes)?;
    commit_temp(&temp, path)
}

/// The first half of [`write_atomic`]: writes `bytes` to a fresh temp file beside `path` (same
/// directory, so the rename stays on one file system), flushes it to disk and returns its path.
/// `path` itself is not touched. Stopping here is what a crash mid-save leaves behind.
pub fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    write_temp_with(path, |out| out.write_all(bytes))
}

/// [`write_temp`] for a file written piece by piece: `write` gets a buffered writer on the fresh
/// temp file (so a large checkpoint never has to exist in memory whole). On any error the temp
/// file is removed.
pub(crate) fn write_temp_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>,
) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = parent_dir(path);
    let name = path.file_name().ok_or_else(|| {
        Error::io("cannot write", path, std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))
    })?;
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{}.tmp.{}.{n}", name.to_string_lossy(), std::process::id()));
        // `create_new`: a leftover temp file of the same name (a crashed run whose pid came
        // round again) is skipped, never written through.
        let file = match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io("cannot create", &temp, e)),
        };
        let mut out = std::io::BufWriter::with_capacity(1 << 20, &file);
        let written = write(&mut out).and_then(|()| out.flush());
        drop(out);
        let written = written.and_then(|()| file.sync_all());
        return match written {
            Ok(()) => Ok(temp),
            Err(e) => {
                drop(file);
                let _ = std::fs::remove_file(&temp);
                Err(Error::io("cannot write", &temp, e))
            }
        };
    }
}

/// The second half of [`write_atomic`]: renames the temp file over `path` and flushes the
/// directory entry to disk.
pub fn commit_temp(temp: &Path, path: &Path) -> Result<()> {
    if let Err(e) = std::fs::rename(temp, path) {
        let _ = std::fs::remove_file(temp);
        return Err(Error::io("cannot replace", path, e));
    }
    sync_dir(parent_dir(path)).map_err(|e| Error::io("cannot flush directory", parent_dir(path), e))
}

/// [`commit_temp`] that never replaces a file: links the temp file to `path` (which fails if
/// `path` exists, even when it appears after a caller's check), removes the temp name and flushes
/// the directory. Returns `Ok(false)`, leaving everything as it was, if `path` exists.
pub(crate) fn commit_new(temp: &Path, path: &Path) -> Result<bool> {
    let linked = std::fs::hard_link(temp, path);
    let _ = std::fs::remove_file(temp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(Error::io("cannot write", path, e)),
    }
    sync_dir(parent_dir(path)).map_err(|e| Error::io("cannot flush directory", parent_dir(path), e))?;
    Ok(true)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Windows cannot open a directory as a file; NTFS journals the rename itself.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}
