//! A small command-line reader: `--key value` options and `--switch` flags,
//! `-h`/`--help` prints the example's help, anything unknown is an error.

use std::collections::BTreeMap;
use std::str::FromStr;

/// The parsed command line; read each option once, then [`Cli::finish`].
pub struct Cli {
    values: BTreeMap<String, String>,
}

impl Cli {
    /// Reads `std::env::args`. `switches` are the flags that take no value.
    /// Prints `help` and exits on `-h` or `--help`.
    pub fn parse(help: &str, switches: &[&str]) -> Result<Cli, String> {
        let mut values = BTreeMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            if flag == "-h" || flag == "--help" {
                println!("{help}");
                std::process::exit(0);
            }
            if !flag.starts_with("--") {
                return Err(format!("unexpected argument {flag:?}; see --help"));
            }
            let value = if switches.contains(&flag.as_str()) {
                String::new()
            } else {
                it.next().ok_or_else(|| format!("{flag} needs a value"))?
            };
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

    /// The value of `key`, if given.
    pub fn optional<T: FromStr>(&mut self, key: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        self.values
            .remove(key)
            .map(|v| v.parse().map_err(|e| format!("{key} {v:?}: {e}")))
            .transpose()
    }

    /// Whether the switch `key` is given.
    pub fn switch(&mut self, key: &str) -> bool {
        self.values.remove(key).is_some()
    }

    /// Fails on any option no one asked for.
    pub fn finish(self) -> Result<(), String> {
        match self.values.keys().next() {
            Some(k) => Err(format!("unknown option {k:?}; see --help")),
            None => Ok(()),
        }
    }
}
