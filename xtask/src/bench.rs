//! `cargo xtask bench [--torch]`: the benchmarks, in release, each printing
//! its ratios against baselines measured in the same run; with `--torch`,
//! also `bench/torch_bench.py` (PyTorch, where installed: `$SEQ_TORCH_PYTHON`
//! or `python3`) and a side-by-side table of both. The long-context row
//! (causal self-attention over 4,096 steps) runs in a process of its own
//! per side, seq fused, seq composed and PyTorch, since it reports each
//! one's peak resident memory. The streaming row (`benches/stream.rs`)
//! trains from a generated 1 GiB file and reports its peak memory too;
//! where MPI is installed, `benches/distributed.rs` runs on 1 and 2 ranks.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::step;

/// glibc's allocator settings for both sides of every benchmark (unless
/// `GLIBC_TUNABLES` is set already): blocks up to 32 MiB come from the heap
/// instead of fresh `mmap`s, and up to 256 MiB of freed heap is kept. With
/// glibc's defaults every large tensor of seq's is new pages from the
/// kernel (page faults, zeroing, TLB shootdowns: the Transformer encoder
/// row trains about 1.6x slower); PyTorch measures the same either way.
const TUNABLES: &str = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456";

/// Runs every benchmark in `benches/`, then PyTorch's if `torch`.
pub fn run(torch: bool) -> Result<(), String> {
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        // Inherited by every benchmark process started below.
        std::env::set_var("GLIBC_TUNABLES", TUNABLES);
    }
    println!(
        "GLIBC_TUNABLES={} (both sides)",
        std::env::var("GLIBC_TUNABLES").unwrap_or_default()
    );
    for bench in ["recurrent", "layers", "data", "stream"] {
        step::cargo(
            &format!("bench {bench}"),
            &["bench", "-p", "seq", "--bench", bench],
        )?;
    }
    crate::mpi::bench()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut sides = Vec::new();
    for engine in ["fused", "composed"] {
        let mut cmd = Command::new(&cargo);
        cmd.args(["bench", "-p", "seq", "--bench", "layers", "--"])
            .args(["--long-context", engine]);
        sides.push((format!("seq {engine}"), json_line(&mut cmd)?));
    }
    let python = std::env::var("SEQ_TORCH_PYTHON").unwrap_or_else(|_| "python3".into());
    if torch {
        let mut cmd = Command::new(&python);
        cmd.arg("bench/torch_bench.py").current_dir(step::root());
        step::run("bench torch", &mut cmd)?;
        let mut cmd = Command::new(&python);
        cmd.args(["bench/torch_bench.py", "--long-context"]);
        sides.push(("PyTorch".into(), json_line(&mut cmd)?));
    }
    println!("causal self-attention 256 wide, 8 heads [1,4096,256], forward+backward:");
    println!("| side | time | peak resident memory |\n|---|---|---|");
    for (side, row) in &sides {
        let ms = median(row, "fwd_bwd_ms").unwrap_or(f64::NAN);
        let mib = row["peak_rss_mib"].as_f64().unwrap_or(f64::NAN);
        println!("| {side} | {ms:.0} ms | {mib:.0} MiB |");
    }
    let all: serde_json::Map<String, Value> = sides.into_iter().collect();
    let path = step::root().join("target/bench/long_context.json");
    let text = serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    if torch {
        side_by_side(&step::root().join("target/bench"))?;
    }
    Ok(())
}

/// Runs `cmd` in the workspace root and parses the last line it prints as JSON.
fn json_line(cmd: &mut Command) -> Result<Value, String> {
    let what = format!("{cmd:?}");
    println!("==> {what}");
    let out = cmd
        .current_dir(step::root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what} failed ({})", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or("");
    serde_json::from_str(last).map_err(|e| format!("{what}: {e} in {last:?}"))
}

fn rows(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let rows = v.get("rows").cloned().unwrap_or(v);
    rows.as_array()
        .cloned()
        .ok_or_else(|| format!("{}: no rows", path.display()))
}

/// The median of a `[median, min, max]` field.
fn median(row: &Value, key: &str) -> Option<f64> {
    row.get(key)?.get(0)?.as_f64()
}

/// Prints seq's and PyTorch's medians of every workload both measured.
fn side_by_side(dir: &Path) -> Result<(), String> {
    let torch = rows(&dir.join("torch.json"))?;
    let mut ours = rows(&dir.join("recurrent.json"))?;
    ours.extend(rows(&dir.join("layers.json"))?);
    println!("| workload | seq fwd | torch fwd | ratio | seq fwd+bwd | torch fwd+bwd | ratio |");
    println!("|---|---|---|---|---|---|---|");
    for row in &ours {
        let name = row["workload"].as_str().unwrap_or("?");
        let Some(theirs) = torch.iter().find(|t| t["workload"].as_str() == Some(name)) else {
            continue;
        };
        let cell = |key: &str| match (median(row, key), median(theirs, key)) {
            (Some(a), Some(b)) => format!("{a:.1} ms | {b:.1} ms | {:.2}", a / b),
            _ => "- | - | -".into(),
        };
        println!("| {name} | {} | {} |", cell("fwd_ms"), cell("fwd_bwd_ms"));
    }
    Ok(())
}
