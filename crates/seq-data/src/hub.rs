//! Files from the Hugging Face Hub through `hf-hub`, cached locally; with
//! `offline`, only the cache is read (the network is never touched).
//!
//! What comes back always lies inside the cache folder: repository ids and
//! file names are checked before use (no `..`, no absolute paths, no odd
//! characters), and the file found (after following symbolic links and
//! whatever a `refs/` file names) must resolve to a path under the cache.

use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// The local path of `file` in the hub repository `repo` (`owner/name`).
///
/// `cache` is the cache folder (hf-hub's default, `~/.cache/huggingface/hub`,
/// when `None`). Offline, the file must already be cached (laid out as
/// hf-hub lays it out: `models--owner--name/refs/main` naming a snapshot,
/// `snapshots/<commit>/<file>`); online, it is downloaded once.
pub fn hub_file(repo: &str, file: &str, cache: Option<&Path>, offline: bool) -> Result<PathBuf> {
    check_repo(repo)?;
    check_file(file)?;
    let dir = match cache {
        Some(d) => d.to_path_buf(),
        None => hf_hub::Cache::from_env().path().clone(),
    };
    let path = if offline {
        let cached = hf_hub::Cache::new(dir.clone())
            .repo(hf_hub::Repo::model(repo.to_string()))
            .get(file);
        cached.ok_or_else(|| {
            Error::Hub(format!(
                "{repo}/{file} is not in the cache {} and the network is off",
                dir.display()
            ))
        })?
    } else {
        let api = hf_hub::api::sync::ApiBuilder::new()
            .with_cache_dir(dir.clone())
            .build()
            .map_err(|e| Error::Hub(e.to_string()))?;
        api.model(repo.to_string())
            .get(file)
            .map_err(|e| Error::Hub(format!("{repo}/{file}: {e}")))?
    };
    inside(&dir, &path, repo, file)?;
    Ok(path)
}

/// `owner/name` or `name`: letters, digits, `-`, `_` and `.`, no part
/// starting with `.` (so neither `.` nor `..`), at most 96 characters (the
/// Hub's own rules).
fn check_repo(repo: &str) -> Result<()> {
    let parts: Vec<&str> = repo.split('/').collect();
    let part_ok = |p: &&str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    if repo.len() > 96 || parts.len() > 2 || !parts.iter().all(part_ok) {
        return Err(Error::Hub(format!(
            "{repo:?} is not a repository id (`owner/name`)"
        )));
    }
    Ok(())
}

/// A relative path of plain parts (no `..`, `.`, root or drive), without
/// backslashes or control characters.
fn check_file(file: &str) -> Result<()> {
    let plain = Path::new(file)
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if file.is_empty() || !plain || file.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(Error::Hub(format!(
            "{file:?} is not a file name inside a repository"
        )));
    }
    Ok(())
}

/// Refuses `path` unless, links followed, it lies under `cache`.
fn inside(cache: &Path, path: &Path, repo: &str, file: &str) -> Result<()> {
    let real = |p: &Path| {
        p.canonicalize()
            .map_err(|e| Error::Hub(format!("{}: {e}", p.display())))
    };
    let (root, target) = (real(cache)?, real(path)?);
    if !target.starts_with(&root) || !target.is_file() {
        return Err(Error::Hub(format!(
            "{repo}/{file} resolves to {}, outside the cache {}: refused",
            target.display(),
            root.display()
        )));
    }
    Ok(())
}

/// A tokenizer from the hub repository `repo` (its `tokenizer.json`).
pub fn hub_tokenizer(repo: &str, cache: Option<&Path>, offline: bool) -> Result<crate::Tokenizer> {
    crate::Tokenizer::from_file(&hub_file(repo, "tokenizer.json", cache, offline)?)
}

/// A model saved by [`seq_core::pretrained::save_pretrained`] and pushed to
/// the hub repository `repo`: its `config.json` and `model.safetensors`
/// through [`hub_file`] (same `cache` and `offline`), then
/// [`seq_core::pretrained::from_files`].
#[cfg(feature = "serde")]
pub fn hub_pretrained<M: seq_core::pretrained::Pretrained>(
    repo: &str,
    cache: Option<&Path>,
    offline: bool,
    dtype: candle_core::DType,
    device: &candle_core::Device,
) -> Result<(M, seq_core::Params)> {
    use seq_core::pretrained::{from_files, CONFIG_FILE, WEIGHTS_FILE};
    let config = hub_file(repo, CONFIG_FILE, cache, offline)?;
    let weights = hub_file(repo, WEIGHTS_FILE, cache, offline)?;
    Ok(from_files(&config, &weights, dtype, device)?)
}
