//! `cargo xtask bench [--torch]`: the benchmarks, in release, each printing
//! its ratios against baselines measured in the same run; with `--torch`,
//! also `bench/torch_bench.py` (PyTorch, where installed: `$SEQ_TORCH_PYTHON`
//! or `python3`) and a side-by-side table of both.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::step;

/// Runs every benchmark in `benches/`, then PyTorch's if `torch`.
pub fn run(torch: bool) -> Result<(), String> {
    for bench in ["recurrent", "layers", "data"] {
        step::cargo(
            &format!("bench {bench}"),
            &["bench", "-p", "seq", "--bench", bench],
        )?;
    }
    if torch {
        let python = std::env::var("SEQ_TORCH_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut cmd = Command::new(python);
        cmd.arg("bench/torch_bench.py").current_dir(step::root());
        step::run("bench torch", &mut cmd)?;
        side_by_side(&step::root().join("target/bench"))?;
    }
    Ok(())
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
