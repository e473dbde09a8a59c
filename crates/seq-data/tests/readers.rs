//! Readers on the shipped real data and on small malformed files: counts,
//! missing values, gaps, and errors that name file, line and column.

use std::path::{Path, PathBuf};

use seq_data::readers::text::{
    read_column, read_corpus, read_label_folders, read_labelled_table, read_pairs,
};
use seq_data::readers::timeseries::{read_series, Missing, SeriesOptions};
use seq_data::readers::ucr::read_ts;
use seq_data::Error;

fn data(name: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "..", "..", "data", name]
        .iter()
        .collect()
}

fn temp(name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seq-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

fn weather(missing: Missing) -> seq_data::Result<seq_data::readers::timeseries::TimeSeries> {
    let opts = SeriesOptions {
        time_column: "time_hour".into(),
        filter: Some(("origin".into(), "EWR".into())),
        missing,
        ..SeriesOptions::default()
    };
    read_series(&data("nyc-weather-2013.csv"), &opts)
}

#[test]
fn the_weather_file_reports_its_missing_values_and_gaps() {
    let err = weather(Missing::Error).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Parse { .. })
            && msg.contains("nyc-weather-2013.csv:")
            && msg.contains("missing values under the error policy"),
        "{msg}"
    );
    let filled = weather(Missing::ForwardFill).unwrap();
    let r = &filled.report;
    assert_eq!(filled.values.len(), 8703);
    assert_eq!(
        filled.columns,
        [
            "temp",
            "dewp",
            "humid",
            "wind_dir",
            "wind_speed",
            "wind_gust",
            "precip",
            "pressure",
            "visib"
        ]
    );
    assert!(
        r.missing.len() > 1000,
        "wind_gust is mostly empty: {}",
        r.missing.len()
    );
    assert_eq!(r.filled, r.missing.len());
    assert!(filled.values.iter().flatten().all(|v| v.is_finite()));
    assert_eq!(r.step, 3600);
    assert!(!r.gaps.is_empty(), "the hourly series has gaps");
    let missing_hours: i64 = r.gaps.iter().map(|g| g.missing_steps).sum();
    // A year of hours from the first to the last timestamp, less the rows present.
    let span = (filled.times[filled.times.len() - 1] - filled.times[0]) / 3600 + 1;
    assert_eq!(span - 8703, missing_hours);
    let interp = weather(Missing::Interpolate).unwrap();
    assert_eq!(interp.report.filled, r.filled);
    assert!(interp.values.iter().flatten().all(|v| v.is_finite()));
    let dropped = weather(Missing::Drop).unwrap();
    assert_eq!(dropped.values.len() + dropped.report.dropped_rows, 8703);
    assert_eq!(dropped.times.len(), dropped.values.len());
}

#[test]
fn interpolation_is_linear_in_time() {
    let p = temp(
        "lin.csv",
        b"t,x\n2020-01-01T00:00:00Z,1\n2020-01-01T01:00:00Z,\n2020-01-01T03:00:00Z,7\n",
    );
    let s = read_series(
        &p,
        &SeriesOptions {
            time_column: "t".into(),
            missing: Missing::Interpolate,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(s.values, vec![vec![1.0], vec![3.0], vec![7.0]]);
    assert_eq!(s.report.gaps.len(), 1);
    // On an hourly grid the gap at 02:00 is filled halfway between 3 and 7.
    let r = s.resample(3600).unwrap();
    assert_eq!(r.values, vec![vec![1.0], vec![3.0], vec![5.0], vec![7.0]]);
    assert_eq!(r.times[2] - r.times[1], 3600);
}

#[test]
fn all_five_ucr_sets_load_with_their_counts_and_lengths() {
    // (name, train cases, test cases, dimensions, shortest, longest, classes)
    let sets = [
        ("GunPoint", 50, 150, 1, 150, 150, 2),
        ("ItalyPowerDemand", 67, 1029, 1, 24, 24, 2),
        ("ArrowHead", 36, 175, 1, 251, 251, 3),
        ("BasicMotions", 40, 40, 6, 100, 100, 4),
        ("JapaneseVowels", 270, 370, 12, 7, 29, 9),
    ];
    for (name, train, test, dims, lo, hi, classes) in sets {
        for (split, cases) in [("TRAIN", train), ("TEST", test)] {
            let ds = read_ts(&data(&format!("ucr/{name}_{split}.ts"))).unwrap();
            assert_eq!(ds.series.len(), cases, "{name} {split}");
            assert_eq!(ds.dims(), dims, "{name}");
            assert_eq!(ds.classes.len(), classes, "{name}");
            let lengths = ds.lengths();
            assert!(
                lengths.iter().all(|&l| (lo..=hi).contains(&l)),
                "{name} {split}"
            );
            if name == "JapaneseVowels" && split == "TRAIN" {
                assert_eq!(
                    (
                        *lengths.iter().min().unwrap(),
                        *lengths.iter().max().unwrap()
                    ),
                    (7, 26)
                );
            }
        }
    }
}

#[test]
fn labelled_text_in_tables_and_folders() {
    let rt =
        read_labelled_table(&data("rotten-tomatoes-test.tsv"), b'\t', "text", "label").unwrap();
    assert_eq!(rt.len(), 2000);
    // BOM, CRLF, a quoted field with a comma, a quote and a newline.
    let p = temp(
        "t.csv",
        b"\xEF\xBB\xBFlabel,text\r\npos,\"good, \"\"very\"\"\nfun\"\r\nneg,bad\r\n",
    );
    let rows = read_labelled_table(&p, b',', "text", "label").unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].label.as_str(), rows[0].text.as_str()),
        ("pos", "good, \"very\"\nfun")
    );
    assert_eq!(read_column(&p, b',', "label").unwrap(), ["pos", "neg"]);
    let brown = read_column(&data("brown-genres.tsv"), b'\t', "text").unwrap();
    assert_eq!(brown.len(), 500);
    assert!(read_column(&p, b',', "review").is_err());
    let err = read_labelled_table(&p, b',', "review", "label")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t.csv:1") && err.contains("no column \"review\""),
        "{err}"
    );
    let short = temp("short.csv", b"label,text\npos,fine\nneg\n");
    let err = read_labelled_table(&short, b',', "text", "label")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("short.csv:3") && err.contains("1 fields, the header has 2"),
        "{err}"
    );

    let dir = std::env::temp_dir().join(format!("seq-aclimdb-{}", std::process::id()));
    for (label, file, text) in [
        ("neg", "0_3.txt", "dull"),
        ("pos", "1_9.txt", "great"),
        ("pos", "2_8.txt", "fine"),
    ] {
        std::fs::create_dir_all(dir.join(label)).unwrap();
        std::fs::write(dir.join(label).join(file), text).unwrap();
    }
    let rows = read_label_folders(&dir).unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| (r.label.as_str(), r.text.as_str()))
            .collect::<Vec<_>>(),
        [("neg", "dull"), ("pos", "great"), ("pos", "fine")]
    );
}

#[test]
fn sentence_pairs_and_corpora() {
    let p = temp(
        "pairs.tsv",
        b"english\tspanish\tsource\nOpen\tAbrir\tgimp\n\"Say \"\"hi\"\"\"\tDi \"\"hola\"\"\tx\n",
    );
    let pairs = read_pairs(&p, "english", "spanish").unwrap();
    assert_eq!(
        pairs[1],
        ("Say \"hi\"".to_string(), "Di \"\"hola\"\"".to_string())
    );
    let hamlet = read_corpus(&data("hamlet.txt")).unwrap();
    assert!(hamlet.contains("To be, or not to be"));
    let bad = temp("bad.txt", b"line one\nline \xff two\n");
    assert!(read_corpus(&bad)
        .unwrap_err()
        .to_string()
        .contains("bad.txt:2"));
}

#[test]
fn malformed_files_name_the_line_and_column() {
    let p = temp(
        "x.ts",
        b"@problemName X\n@classLabel true a b\n@data\n1,2,3:a\n1,2,oops:b\n",
    );
    let err = read_ts(&p).unwrap_err().to_string();
    assert!(err.contains("x.ts:5:1") && err.contains("oops"), "{err}");
    let p = temp("y.ts", b"@classLabel true a b\n@data\n1,2:c\n");
    assert!(read_ts(&p).unwrap_err().to_string().contains("y.ts:3"));
    let p = temp("w.csv", b"t,x\n2020-01-01,1\n2020-01-02,abc\n");
    let err = read_series(
        &p,
        &SeriesOptions {
            time_column: "t".into(),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("w.csv:3:2") && err.contains("not a finite number"),
        "{err}"
    );
    assert!(Path::new(&data("hamlet.txt")).exists());
}
