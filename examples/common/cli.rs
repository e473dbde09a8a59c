//! A small command-line reader: `--key value` options and `--switch` flags,
//! `-h`/`--help` prints the example's help, anything unknown is an error.

use std::collections::BTreeMap;
use std::io::Write;
use std::str::FromStr;

/// The parsed command line; read each option once, then [`Cli::finish`].
pub struct Cli {
    /// Each `--flag` and the argument after it, unless that is a flag too.
    values: BTreeMap<String, Option<String>>,
}

impl Cli {
    /// Reads `std::env::args`; prints `help` and exits on `-h` or `--help`.
    pub fn parse(help: &str) -> Result<Cli, String> {
        let mut values = BTreeMap::new();
        let mut it = std::env::args().skip(1).peekable();
        while let Some(flag) = it.next() {
            if flag == "-h" || flag == "--help" {
                let _ = writeln!(std::io::stdout(), "{help}"); // a closed pipe is fine
                std::process::exit(0);
            }
            if !flag.starts_with("--") {
                return Err(format!("unexpected argument {flag:?}; see --help"));
            }
            let value = it.next_if(|v| !v.starts_with("--"));
            values.insert(flag, value);
        }
        Ok(Cli { values })
    }

    /// The value of `key`, or `default` when it is not given.
    pub fn get<T: FromStr>(&mut self, key: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        Ok(self.optional(key)?.unwrap_or(default))
    }

    /// The value of `key` (`default` when not given), which must be at
    /// least 1: a size or a count. Zero is an error naming the option.
    pub fn positive(&mut self, key: &str, default: usize) -> Result<usize, String> {
        match self.get(key, default)? {
            0 => Err(format!("{key} must be at least 1, got 0")),
            n => Ok(n),
        }
    }

    /// The value of `key`, if given.
    pub fn optional<T: FromStr>(&mut self, key: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.values.remove(key) {
            None => Ok(None),
            Some(None) => Err(format!("{key} needs a value")),
            Some(Some(v)) => v.parse().map(Some).map_err(|e| format!("{key} {v:?}: {e}")),
        }
    }

    /// Whether the switch `key` is given.
    pub fn switch(&mut self, key: &str) -> Result<bool, String> {
        match self.values.remove(key) {
            None => Ok(false),
            Some(None) => Ok(true),
            Some(Some(v)) => Err(format!("{key} takes no value, got {v:?}")),
        }
    }

    /// Fails on any option no one asked for.
    pub fn finish(self) -> Result<(), String> {
        match self.values.keys().next() {
            Some(k) => Err(format!("unknown option {k:?}; see --help")),
            None => Ok(()),
        }
    }
}
