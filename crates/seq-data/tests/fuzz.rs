//! Robustness: every reader, on arbitrary bytes and on arbitrary rows,
//! returns a value or an error; it never panics.

use proptest::prelude::*;
use seq_data::readers::text::{read_corpus, read_labelled_table, read_pairs};
use seq_data::readers::timeseries::{read_series, Missing, SeriesOptions};
use seq_data::readers::ucr::read_ts;
use seq_data::vectors::{read_vectors, VectorFormat};

fn write(bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "seq-fuzz-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("input");
    std::fs::write(&p, bytes).unwrap();
    p
}

fn all_readers(bytes: &[u8]) {
    let p = write(bytes);
    let _ = read_corpus(&p);
    let _ = read_labelled_table(&p, b',', "text", "label");
    let _ = read_pairs(&p, "english", "spanish");
    let _ = read_ts(&p);
    for missing in [
        Missing::Error,
        Missing::Drop,
        Missing::ForwardFill,
        Missing::Interpolate,
    ] {
        let _ = read_series(
            &p,
            &SeriesOptions {
                time_column: "t".into(),
                missing,
                ..Default::default()
            },
        );
    }
    for f in [
        VectorFormat::Glove,
        VectorFormat::Word2VecText,
        VectorFormat::Word2VecBinary,
    ] {
        let _ = read_vectors(&p, f);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        all_readers(&bytes);
    }

    /// Arbitrary rows under plausible headers reach the parsers' inner paths.
    #[test]
    fn arbitrary_rows_never_panic(
        rows in proptest::collection::vec("[-0-9a-z.,:?@ \t\"]{0,30}", 0..12),
        header in prop_oneof![Just("t,x,y"), Just("label,text"), Just("english\tspanish"), Just("@classLabel true a b\n@data"), Just("2 3")],
    ) {
        all_readers(format!("{header}\n{}", rows.join("\n")).as_bytes());
    }

    /// Any time-series table is read with every value finite, or refused
    /// with an error: strictly when a value is missing, when filling only if
    /// a column has nothing to fill from.
    #[test]
    fn series_are_read_or_refused(values in proptest::collection::vec(prop_oneof![Just(String::new()), (-1e3f64..1e3).prop_map(|v| v.to_string())], 1..20)) {
        let body: String = values.iter().enumerate().map(|(i, v)| format!("2020-01-01T{:02}:00:00Z,{v}\n", i)).collect();
        let p = write(format!("t,x\n{body}").as_bytes());
        let any_missing = values.iter().any(String::is_empty);
        let all_missing = values.iter().all(String::is_empty);
        let strict = read_series(&p, &SeriesOptions { time_column: "t".into(), ..Default::default() });
        prop_assert_eq!(strict.is_err(), any_missing);
        let filled = read_series(&p, &SeriesOptions { time_column: "t".into(), missing: Missing::Interpolate, ..Default::default() });
        prop_assert_eq!(filled.is_err(), all_missing);
        if let Ok(filled) = filled {
            prop_assert!(filled.values.iter().flatten().all(|v| v.is_finite()));
            prop_assert_eq!(filled.report.filled, values.iter().filter(|v| v.is_empty()).count());
        }
    }
}
