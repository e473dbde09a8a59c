//! What the examples' command lines share. Each example declares its
//! options as a struct deriving [`clap::Parser`]: the doc comments are the
//! help, the defaults are written beside the fields, and anything unknown
//! or malformed is an error naming the option. The parsers here check what
//! a type alone cannot.

/// A size or a count: a whole number of at least 1.
pub fn positive(s: &str) -> Result<usize, String> {
    at_least(1)(s)
}

/// A probability that can be used as a rate of dropout: in `[0, 1)`.
pub fn probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..1.0).contains(&p) => Ok(p),
        Ok(p) => Err(format!("{p} is not in [0, 1)")),
        Err(e) => Err(e.to_string()),
    }
}

/// A quantile level: strictly between 0 and 1.
pub fn level(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(q) if q > 0.0 && q < 1.0 => Ok(q),
        Ok(q) => Err(format!("{q} is not in (0, 1)")),
        Err(e) => Err(e.to_string()),
    }
}

/// A whole number of at least `min`.
pub fn at_least(min: usize) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync {
    move |s| match s.parse::<usize>() {
        Ok(n) if n >= min => Ok(n),
        Ok(n) => Err(format!("{n} is less than {min}")),
        Err(e) => Err(e.to_string()),
    }
}

/// `--out` when given, else `runs/EXAMPLE/MODEL`: each model of an example
/// keeps its own folder.
pub fn out_dir(out: Option<&std::path::Path>, example: &str, model: &str) -> std::path::PathBuf {
    match out {
        Some(dir) => dir.to_path_buf(),
        None => std::path::Path::new("runs").join(example).join(model),
    }
}

/// A device by name (`auto`, `cpu`, `cuda[:N]`, `metal[:N]`; see
/// [`seq::core::device`]).
pub fn device(s: &str) -> Result<candle_core::Device, String> {
    seq::core::device(s).map_err(|e| e.to_string())
}
