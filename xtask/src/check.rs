//! `cargo xtask check`: everything CI runs, the first failure stops it.

use crate::{step, suites};

/// Smoke runs whose saved model a new process uses: the example, the
/// options of its smoke run after `--smoke`, and the options that make the
/// new process use what it saved. Every line that process prints must be
/// one the training process printed (the same prediction for the same
/// input).
const REUSE: &[(&str, &[&str], &[&str])] = &[
    (
        "classify",
        &[],
        &[
            "--tasks",
            "genre",
            "--predict",
            "the jury said the election was conducted fairly",
        ],
    ),
    ("forecast", &[], &["--forecast"]),
    ("generate", &[], &["--sample"]),
    ("sentiment", &[], &["--predict", "a dull , lifeless mess"]),
    (
        "sentiment",
        &["--model", "nb-bag", "--bigrams", "4096", "--lr", "0.1"],
        &["--predict", "a dull , lifeless mess"],
    ),
    (
        "similarity",
        &[],
        &[
            "--compare",
            "the jury said the election was conducted fairly",
            "--with",
            "the committee reported on the city budget",
        ],
    ),
    ("translate", &[], &["--translate", "I am hungry."]),
    (
        "ts_classify",
        &[],
        &[
            "--sets",
            "GunPoint",
            "--predict",
            "data/ucr/GunPoint_TEST.ts",
        ],
    ),
];

/// fmt, clippy, every test, both suites, the MPI test, a smoke run of
/// every example (the speech example's where espeak-ng is installed), the
/// saved model of each example in [`REUSE`] used by a new process, and the
/// publish dry run (packing only).
pub fn run() -> Result<(), String> {
    step::cargo("fmt", &["fmt", "--all", "--", "--check"])?;
    step::cargo(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // `--all-targets` leaves out test targets with `test = false`: the suites.
    step::cargo(
        "clippy (suites)",
        &[
            "clippy",
            "-p",
            "seq",
            "--test",
            "gradcheck",
            "--test",
            "properties",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    step::cargo("tests", &["test", "--workspace"])?;
    suites::gradcheck()?;
    suites::proptest()?;
    crate::mpi::run(false)?;
    for example in examples()? {
        // The speech example synthesises its corpus with espeak-ng.
        if example == "speech" && !step::installed("espeak-ng") {
            println!("==> example speech --smoke: skipped, `espeak-ng` is not installed (Debian: espeak-ng)");
            continue;
        }
        let smoke = ["run", "--example", &example, "--", "--smoke"];
        let reuses: Vec<_> = REUSE.iter().filter(|(e, ..)| *e == example).collect();
        if reuses.is_empty() {
            step::cargo(&format!("example {example} --smoke"), &smoke)?;
        }
        for (_, options, reuse) in reuses {
            let trained = [&smoke[..], options].concat();
            let name = format!("example {example} {}", trained[4..].join(" "));
            let printed = step::cargo_output(&name, &trained)?;
            let args = [&trained[..], reuse].concat();
            let name = format!("example {example} {}", args[4..].join(" "));
            let again = step::cargo_output(&name, &args)?;
            let lines: Vec<&str> = again.lines().filter(|l| !l.trim().is_empty()).collect();
            if lines.is_empty() {
                return Err(format!("{name}: printed nothing"));
            }
            if let Some(line) = lines.iter().find(|l| !printed.lines().any(|t| t == **l)) {
                return Err(format!(
                    "{name}: the saved model gave what the training run did not print:\n{line}"
                ));
            }
        }
    }
    crate::publish::run(false)
}

/// The names of the examples: `examples/NAME.rs` and `examples/NAME/main.rs`.
fn examples() -> Result<Vec<String>, String> {
    let dir = step::root().join("examples");
    let mut names = Vec::new();
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned);
        let is_example =
            path.extension().is_some_and(|e| e == "rs") || path.join("main.rs").exists();
        if let (true, Some(name)) = (is_example, name) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}
