//! Files from the Hugging Face Hub through `hf-hub`, cached locally; with
//! `offline`, only the cache is read (the network is never touched).

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The local path of `file` in the hub repository `repo` (`owner/name`).
///
/// `cache` is the cache folder (hf-hub's default, `~/.cache/huggingface/hub`,
/// when `None`). Offline, the file must already be cached (laid out as
/// hf-hub lays it out: `models--owner--name/refs/main` naming a snapshot,
/// `snapshots/<commit>/<file>`); online, it is downloaded once.
pub fn hub_file(repo: &str, file: &str, cache: Option<&Path>, offline: bool) -> Result<PathBuf> {
    let dir = match cache {
        Some(d) => d.to_path_buf(),
        None => hf_hub::Cache::from_env().path().clone(),
    };
    if offline {
        let cached = hf_hub::Cache::new(dir.clone())
            .repo(hf_hub::Repo::model(repo.to_string()))
            .get(file);
        return cached.ok_or_else(|| {
            Error::Hub(format!(
                "{repo}/{file} is not in the cache {} and the network is off",
                dir.display()
            ))
        });
    }
    let api = hf_hub::api::sync::ApiBuilder::new()
        .with_cache_dir(dir)
        .build()
        .map_err(|e| Error::Hub(e.to_string()))?;
    api.model(repo.to_string())
        .get(file)
        .map_err(|e| Error::Hub(format!("{repo}/{file}: {e}")))
}

/// A tokenizer from the hub repository `repo` (its `tokenizer.json`).
pub fn hub_tokenizer(repo: &str, cache: Option<&Path>, offline: bool) -> Result<crate::Tokenizer> {
    crate::Tokenizer::from_file(&hub_file(repo, "tokenizer.json", cache, offline)?)
}
