//! Running one named step: print its name, run it, print its time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The workspace root (the parent of this crate's folder).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one folder below the workspace root")
        .to_path_buf()
}

/// Runs `cargo <args>` in the workspace root as the step `name`; a failure
/// is an error that names the step.
pub fn cargo(name: &str, args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(args).current_dir(root());
    run(name, &mut cmd)
}

/// [`cargo`], returning what the command printed on stdout (also shown).
pub fn cargo_output(name: &str, args: &[&str]) -> Result<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("==> {name}");
    let start = Instant::now();
    let out = Command::new(cargo)
        .args(args)
        .current_dir(root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("{name}: could not start: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{stdout}");
    let secs = start.elapsed().as_secs_f64();
    match out.status.success() {
        true => {
            println!("==> {name}: ok in {secs:.1} s");
            Ok(stdout)
        }
        false => Err(format!("{name} failed ({}) after {secs:.1} s", out.status)),
    }
}

/// Runs `cmd` as the step `name`.
pub fn run(name: &str, cmd: &mut Command) -> Result<(), String> {
    println!("==> {name}");
    let start = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{name}: could not start: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    if status.success() {
        println!("==> {name}: ok in {secs:.1} s");
        Ok(())
    } else {
        Err(format!("{name} failed ({status}) after {secs:.1} s"))
    }
}

/// Whether `program` runs (`program --version` starts).
pub fn installed(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}
