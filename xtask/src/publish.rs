//! `cargo xtask publish [--verify]`: `cargo publish --workspace --dry-run`.
//! Every crate is packed as crates.io would receive it (its metadata,
//! file list and dependencies resolved against crates.io and the other
//! packed crates), so absent metadata, an unversioned path dependency or a
//! dependency that cannot be resolved fails here, not at release.
//!
//! `cargo xtask check` packs without building (`--no-verify`): building
//! each packed crate on its own resolves features per crate, which rebuilds
//! the dependencies once per crate (about 9 minutes on 2 cores), and the
//! check's other steps build the same sources. `--verify` builds them too,
//! in `target/publish`.

use std::path::{Path, PathBuf};

use crate::step;

/// The workspace's packages (the facade and every crate under `crates/`).
fn packages() -> Result<Vec<String>, String> {
    let dir = step::root().join("crates");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names = vec!["seq".to_owned()];
    names.extend(entries.flatten().filter_map(|e| {
        let path = e.path();
        path.join("Cargo.toml")
            .exists()
            .then(|| e.file_name().to_string_lossy().into_owned())
    }));
    Ok(names)
}

/// Cargo's home: `$CARGO_HOME`, else `~/.cargo`.
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
}

/// Removes what an earlier dry run left of the packed crates. Cargo takes
/// the packed crates for registry packages, which never change at a given
/// version: it would reuse their unpacked sources (under
/// `$CARGO_HOME/registry/src/-<hash>/`, the local registry's folder) and
/// their build, and so verify the previous run's code.
fn forget_previous_run(target: &Path, packages: &[String]) -> Result<(), String> {
    let version = env!("CARGO_PKG_VERSION");
    if let Some(registry) = cargo_home().map(|h| h.join("registry")) {
        for kind in ["src", "cache"] {
            let Ok(entries) = std::fs::read_dir(registry.join(kind)) else {
                continue;
            };
            // Local registries have no host name: their folders start with '-'.
            for dir in entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with('-'))
            {
                for name in packages {
                    let unpacked = dir.path().join(format!("{name}-{version}"));
                    let packed = dir.path().join(format!("{name}-{version}.crate"));
                    for path in [unpacked, packed] {
                        let removed = if path.is_dir() {
                            std::fs::remove_dir_all(&path)
                        } else {
                            std::fs::remove_file(&path)
                        };
                        if let Err(e) = removed.or_else(|e| match e.kind() {
                            std::io::ErrorKind::NotFound => Ok(()),
                            _ => Err(e),
                        }) {
                            return Err(format!("{}: {e}", path.display()));
                        }
                    }
                }
            }
        }
    }
    if target.exists() {
        let mut args = vec!["clean", "--target-dir"];
        let target = target
            .to_str()
            .ok_or("the target folder's path is not UTF-8")?;
        args.push(target);
        for name in packages {
            args.extend(["-p", name.as_str()]);
        }
        step::cargo("publish: forget the previous dry run", &args)?;
    }
    Ok(())
}

/// The dry run; with `verify`, each packed crate is built too, in its own
/// target folder (`target/publish`).
pub fn run(verify: bool) -> Result<(), String> {
    let mut args = vec!["publish", "--workspace", "--dry-run", "--allow-dirty"];
    if !verify {
        args.push("--no-verify");
        return step::cargo("publish --workspace --dry-run --no-verify", &args);
    }
    let target = step::root().join("target").join("publish");
    forget_previous_run(&target, &packages()?)?;
    let target = target
        .to_str()
        .ok_or("the target folder's path is not UTF-8")?;
    args.extend(["--target-dir", target]);
    step::cargo("publish --workspace --dry-run", &args)
}
