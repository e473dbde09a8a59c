//! Files written so that nothing a user saved is lost: [`write_atomic`] and
//! [`stage`] write the new contents under a temporary name unique to this
//! process and call, flush them to the disk (`fsync`), rename them over the
//! target and flush the folder, so that a crash, a full disk or a second
//! process writing the same file leaves either the old file or the new one,
//! whole, never a mix.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

/// Writes `bytes` to `path` atomically (see the module docs). The folder is
/// created if it does not exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    stage(path, bytes)?.commit()
}

/// A file written under its temporary name and flushed, not yet renamed into
/// place: [`Staged::commit`] makes it the file. Dropped uncommitted, the
/// temporary file is removed and the previous file stays as it was (a crash
/// before the rename leaves the previous file whole too, and a stray
/// temporary file beside it).
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    committed: bool,
}

/// Writes `bytes` to a temporary file beside `path` and flushes it; the
/// rename waits for [`Staged::commit`].
pub fn stage(path: &Path, bytes: &[u8]) -> Result<Staged> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io { path: p, source }
    };
    let dir = folder(path);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let tmp = temporary_name(path);
    let staged = Staged {
        tmp,
        path: path.to_path_buf(),
        committed: false,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&staged.tmp)
        .map_err(io(&staged.tmp))?;
    file.write_all(bytes).map_err(io(&staged.tmp))?;
    file.sync_all().map_err(io(&staged.tmp))?;
    Ok(staged)
}

impl Staged {
    /// The temporary file that holds the new contents.
    pub fn temporary_path(&self) -> &Path {
        &self.tmp
    }

    /// Renames the temporary file over the target (atomic on one filesystem)
    /// and flushes the folder, so the rename itself survives a power cut.
    pub fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.path).map_err(|source| Error::Io {
            path: self.path.clone(),
            source,
        })?;
        self.committed = true;
        sync_folder(&folder(&self.path))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the file may already be gone.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The folder that holds `path` (`.` for a bare file name).
fn folder(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `.NAME.PID-N.tmp` beside `path`: unique per process and per call, so two
/// writers never share a temporary file, and hidden from folder listings.
fn temporary_name(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    folder(path).join(format!(".{name}.{}-{n}.tmp", std::process::id()))
}

#[cfg(unix)]
fn sync_folder(dir: &Path) -> Result<()> {
    let d = std::fs::File::open(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    d.sync_all().map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(not(unix))]
fn sync_folder(_dir: &Path) -> Result<()> {
    // Folders cannot be opened for flushing here; the rename is what there is.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("seq-fs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_write_replaces_the_file_and_leaves_nothing_beside_it() -> Result<()> {
        let d = dir("write");
        let path = d.join("a.txt");
        write_atomic(&path, b"old")?;
        write_atomic(&path, b"new")?;
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(&d).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
        std::fs::remove_dir_all(&d).unwrap();
        Ok(())
    }

    #[test]
    fn an_uncommitted_stage_keeps_the_old_file_and_cleans_up() -> Result<()> {
        let d = dir("stage");
        let path = d.join("a.txt");
        write_atomic(&path, b"old")?;
        let a = stage(&path, b"one")?;
        let b = stage(&path, b"two")?;
        assert_ne!(a.temporary_path(), b.temporary_path());
        let tmp = a.temporary_path().to_path_buf();
        drop(a);
        assert!(!tmp.exists());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        b.commit()?;
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        std::fs::remove_dir_all(&d).unwrap();
        Ok(())
    }

    #[test]
    fn a_failed_write_names_the_file() {
        let path = Path::new("/proc/seq-cannot-write-here/a.txt");
        let err = write_atomic(path, b"x").unwrap_err().to_string();
        assert!(err.contains("/proc/seq-cannot-write-here"), "{err}");
    }
}
