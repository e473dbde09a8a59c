//! Tidy: tests that keep the tree clean, run with the other tests.

use std::path::{Path, PathBuf};

use crate::step::root;

/// Every `.rs` file under the tracked folders, skipping `target/`.
fn rust_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() && name != "target" && !name.to_string_lossy().starts_with('.') {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for dir in ["crates", "src", "tests", "examples", "xtask", "benches"] {
        walk(&root().join(dir), &mut files);
    }
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_rust_file_starts_with_a_module_doc_comment() {
    let bad: Vec<String> = rust_files()
        .into_iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|p| relative(&p))
        .collect();
    assert!(bad.is_empty(), "files without a `//!` module doc: {bad:?}");
}

#[test]
fn every_library_warns_on_missing_docs() {
    let mut libs = vec![root().join("src/lib.rs")];
    let crates = std::fs::read_dir(root().join("crates")).expect("crates/ exists");
    libs.extend(crates.flatten().map(|e| e.path().join("src/lib.rs")));
    for lib in libs {
        let text = std::fs::read_to_string(&lib).unwrap_or_default();
        assert!(
            text.contains("#![warn(missing_docs)]"),
            "{} lacks #![warn(missing_docs)] (clippy -D warnings makes it an error)",
            relative(&lib)
        );
    }
}

#[test]
fn no_stubs_left_in_code() {
    // Spelled in pieces so that this file does not match itself.
    let stubs = [
        ["todo", "!("].concat(),
        ["unimplemented", "!("].concat(),
        ["dbg", "!("].concat(),
    ];
    let bad: Vec<String> = rust_files()
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let hit = stubs.iter().find(|s| text.contains(s.as_str()))?;
            Some(format!("{} ({hit})", relative(&p)))
        })
        .collect();
    assert!(bad.is_empty(), "stubs or debug prints: {bad:?}");
}

#[test]
fn every_crate_passes_the_gpu_features_through() {
    let mut manifests = vec![root().join("Cargo.toml")];
    let crates = std::fs::read_dir(root().join("crates")).expect("crates/ exists");
    manifests.extend(crates.flatten().map(|e| e.path().join("Cargo.toml")));
    for m in manifests {
        let text = std::fs::read_to_string(&m).unwrap_or_default();
        for feature in ["cuda = [", "metal = ["] {
            assert!(
                text.contains(feature),
                "{} has no `{feature}`",
                relative(&m)
            );
        }
    }
}

#[test]
fn the_readme_shows_the_quickstart_as_it_is() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let quickstart =
        std::fs::read_to_string(root().join("examples/quickstart.rs")).expect("the quickstart");
    assert!(
        readme.contains(&format!("```rust\n{quickstart}```")),
        "README.md's \"Use it as a library\" must show examples/quickstart.rs exactly"
    );
}

/// A `rust-version` as three numbers (`"1.89"` -> `[1, 89, 0]`); `None`
/// when a part is not a number.
fn rust_version(text: &str) -> Option<Vec<u64>> {
    let mut parts: Vec<u64> = text
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    parts.resize(parts.len().max(3), 0);
    Some(parts)
}

/// The newest `rust-version` among the packages of `cargo metadata`'s
/// output, with the package that declares it.
fn newest_rust_version(metadata: &serde_json::Value) -> Option<(Vec<u64>, String)> {
    metadata["packages"]
        .as_array()?
        .iter()
        .filter_map(|p| {
            let version = rust_version(p["rust_version"].as_str()?)?;
            Some((version, p["name"].as_str()?.to_owned()))
        })
        .max()
}

/// The workspace's `rust-version` must be at least every locked
/// dependency's (all features, all platforms), so the README's minimum
/// compiler is one that builds the project.
#[test]
fn rust_version_covers_every_locked_dependency() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--all-features",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let stated_text = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .map(|v| v.trim_end_matches('"'))
        .expect("Cargo.toml's [workspace.package] states rust-version");
    let stated = rust_version(stated_text).expect("rust-version is numbers");
    let (newest, package) = newest_rust_version(&metadata).expect("dependencies state versions");
    let text = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
    assert!(
        stated >= newest,
        "rust-version {} in Cargo.toml is older than {package}'s {}",
        text(&stated),
        text(&newest)
    );
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    assert!(
        readme.contains(&format!("Rust toolchain ({stated_text} or newer)")),
        "README.md must state the minimum Rust version {stated_text}"
    );
}

#[test]
fn the_newest_rust_version_is_compared_as_numbers() {
    let metadata = serde_json::json!({"packages": [
        {"name": "a", "rust_version": "1.9"},
        {"name": "b", "rust_version": "1.85.1"},
        {"name": "c", "rust_version": null},
        {"name": "d", "rust_version": "1.85"},
    ]});
    assert_eq!(
        newest_rust_version(&metadata),
        Some((vec![1, 85, 1], "b".to_owned()))
    );
    assert_eq!(rust_version("1.89"), rust_version("1.89.0"));
    assert_eq!(rust_version("1.x"), None);
}
