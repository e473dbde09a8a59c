//! Input that would be read as garbage is refused, and the error names the
//! file and the line; byte-order marks are accepted wherever a file can
//! start with one.

use std::path::PathBuf;

use seq_data::readers::text::{read_corpus, read_label_folders, read_labelled_table, read_pairs};
use seq_data::readers::timeseries::{read_series, SeriesOptions};
use seq_data::readers::ucr::read_ts;
use seq_data::vectors::{read_vectors, VectorFormat};
use seq_data::{Tokenizer, VocabConfig};

fn temp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seq-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Asserts that `result` failed with a message holding every one of `needles`.
fn refused<T: std::fmt::Debug>(result: seq_data::Result<T>, needles: &[&str]) {
    let err = result.expect_err("garbage was accepted").to_string();
    for n in needles {
        assert!(err.contains(n), "{n:?} missing from: {err}");
    }
}

fn series(path: &std::path::Path) -> seq_data::Result<seq_data::readers::timeseries::TimeSeries> {
    let options = SeriesOptions {
        time_column: "t".into(),
        ..Default::default()
    };
    read_series(path, &options)
}

#[test]
fn tables_with_unclosed_quotes_or_ragged_rows_are_refused() {
    let p = temp(
        "quote.tsv",
        b"label\ttext\npos\tfine\nneg\t\"runs on\nto the end\npos\tlast\n",
    );
    refused(
        read_labelled_table(&p, b'\t', "text", "label"),
        &["quote.tsv:3", "never closed"],
    );
    let p = temp("extra.csv", b"label,text\npos,fine\nneg,bad,extra\n");
    refused(
        read_labelled_table(&p, b',', "text", "label"),
        &["extra.csv:3", "3 fields"],
    );
    let p = temp("pairs.tsv", b"english\tspanish\nhi\n");
    refused(
        read_pairs(&p, "english", "spanish"),
        &["pairs.tsv:2", "1 fields"],
    );
    // Quotes inside a field, and doubled quotes, are fine.
    let p = temp(
        "ok.tsv",
        b"label\ttext\npos\tsay \"hi\"\nneg\t\"a \"\"b\"\"\"\n",
    );
    let rows = read_labelled_table(&p, b'\t', "text", "label").unwrap();
    assert_eq!(rows[0].text, "say \"hi\"");
    assert_eq!(rows[1].text, "a \"b\"");
}

#[test]
fn impossible_dates_and_non_finite_values_in_series_are_refused() {
    refused(
        series(&temp("feb.csv", b"t,x\n2013-02-28,1\n2013-02-30,2\n")),
        &["feb.csv:3", "timestamp"],
    );
    refused(
        series(&temp("inf.csv", b"t,x\n2013-01-01,1\n2013-01-02,inf\n")),
        &["inf.csv:3:2", "finite"],
    );
    refused(
        series(&temp("big.csv", b"t,x\n2013-01-01,1e999\n")),
        &["big.csv:2:2", "finite"],
    );
    // A byte-order mark before the header is fine.
    let ok = series(&temp(
        "bom.csv",
        b"\xEF\xBB\xBFt,x\n2013-01-01,1\n2013-01-02,2\n",
    ))
    .unwrap();
    assert_eq!(ok.values, [[1.0], [2.0]]);
}

#[test]
fn word_vectors_must_be_finite_and_agree_with_their_header() {
    let v = |name: &str, bytes: &[u8], f| read_vectors(&temp(name, bytes), f);
    refused(
        v(
            "nan.txt",
            b"2 2\na 1 2\nb nan 1\n",
            VectorFormat::Word2VecText,
        ),
        &["nan.txt:3:2", "finite"],
    );
    refused(
        v("inf.glove", b"a 1 2\nb 3 inf\n", VectorFormat::Glove),
        &["inf.glove:2:3"],
    );
    refused(
        v(
            "count.txt",
            b"3 2\na 1 2\nb 3 4\n",
            VectorFormat::Word2VecText,
        ),
        &["count.txt:1", "promises 3"],
    );
    refused(
        v("empty.glove", b"a\n", VectorFormat::Glove),
        &["empty.glove:1", "no vector"],
    );
    let mut bin = b"1 2\nw ".to_vec();
    bin.extend(1f32.to_le_bytes());
    bin.extend(f32::NAN.to_le_bytes());
    refused(
        v("nan.bin", &bin, VectorFormat::Word2VecBinary),
        &["nan.bin:2", "NaN"],
    );
    let ok = v("bom.glove", b"\xEF\xBB\xBFthe 1 2\n", VectorFormat::Glove).unwrap();
    assert_eq!(
        ok["the"],
        [1.0, 2.0],
        "the BOM is not part of the first word"
    );
}

#[test]
fn ts_files_are_held_to_their_headers() {
    let ts = |name: &str, head: &str, data: &str| {
        read_ts(&temp(
            name,
            format!("{head}\n@classLabel true a b\n@data\n{data}\n").as_bytes(),
        ))
    };
    refused(
        ts("uni.ts", "@univariate true", "1,2:3,4:a"),
        &["uni.ts:4", "2 dimensions, not 1"],
    );
    refused(
        ts("dims.ts", "@dimensions 3", "1,2:3,4:a"),
        &["dims.ts:4", "not 3"],
    );
    refused(
        ts("len.ts", "@seriesLength 3", "1,2,3:a\n1,2:b"),
        &["len.ts:5", "not 3"],
    );
    refused(
        ts("eq.ts", "@equalLength true", "1,2,3:a\n1,2:b"),
        &["eq.ts:5", "@equalLength"],
    );
    refused(
        ts("miss.ts", "@missing false", "1,?,3:a"),
        &["miss.ts:4", "@missing false"],
    );
    refused(
        ts("inf.ts", "@univariate true", "1,inf,3:a"),
        &["inf.ts:4:1", "finite"],
    );
    refused(
        ts("stamps.ts", "@timeStamps true", "1,2:a"),
        &["stamps.ts:1", "not supported"],
    );
    assert!(
        ts("fine.ts", "\u{feff}@problemName fine", "1,2:a").is_ok(),
        "a BOM first"
    );
}

#[test]
fn class_ids_come_from_the_training_file_in_both_files() {
    let train = read_ts(&temp(
        "c_TRAIN.ts",
        b"@classLabel true up down\n@data\n1,2:up\n3,4:down\n",
    ))
    .unwrap();
    let test = read_ts(&temp(
        "c_TEST.ts",
        b"@classLabel true down up\n@data\n1,2:up\n3,4:down\n",
    ))
    .unwrap();
    assert_eq!(test.label_ids(), [1, 0], "the test file's own order");
    assert_eq!(
        test.label_ids_in(&train.classes).unwrap(),
        [0, 1],
        "the training file's order"
    );
    let other = read_ts(&temp(
        "o_TEST.ts",
        b"@classLabel true up left\n@data\n1,2:left\n",
    ))
    .unwrap();
    refused(other.label_ids_in(&train.classes), &["\"left\""]);
    // Without a class list, the classes are the labels found, sorted.
    let bare = read_ts(&temp("bare.ts", b"@classLabel true\n@data\n1,2:b\n3,4:a\n")).unwrap();
    assert_eq!(
        (bare.classes.clone(), bare.label_ids()),
        (vec!["a".into(), "b".into()], vec![1, 0])
    );
}

#[cfg(unix)]
#[test]
fn a_label_folder_named_in_bytes_that_are_not_utf8_is_refused() {
    use std::os::unix::ffi::OsStrExt;
    let dir = std::env::temp_dir().join(format!("seq-garbage-folders-{}", std::process::id()));
    let bad = dir.join(std::ffi::OsStr::from_bytes(b"p\xffs"));
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("1.txt"), "text").unwrap();
    refused(read_label_folders(&dir), &["not UTF-8"]);
}

#[test]
fn byte_order_marks_are_dropped_from_corpora() {
    let text = read_corpus(&temp("bom.txt", b"\xEF\xBB\xBFHello\n")).unwrap();
    assert_eq!(text, "Hello\n");
}

#[test]
fn decode_refuses_ids_outside_the_vocabulary() {
    let tk = Tokenizer::word_level(["a b c"].into_iter(), VocabConfig::default()).unwrap();
    let n = tk.vocab_size() as u32;
    assert!(tk.decode(&[n - 1]).is_ok());
    refused(tk.decode(&[4, n]), &[&format!("id {n}"), "vocabulary"]);
}

#[test]
fn a_header_without_rows_and_a_filter_nothing_passes_are_errors() {
    let p = temp("header.tsv", b"label\ttext\n");
    refused(
        read_labelled_table(&p, b'\t', "text", "label"),
        &["header.tsv:1", "no rows"],
    );
    let p = temp(
        "stations.csv",
        b"t,origin,x\n2013-01-01,EWR,1\n2013-01-02,JFK,2\n",
    );
    let options = SeriesOptions {
        time_column: "t".into(),
        filter: Some(("origin".into(), "NOPE".into())),
        ..Default::default()
    };
    refused(
        read_series(&p, &options),
        &["stations.csv", "\"NOPE\"", "\"EWR\", \"JFK\""],
    );
}
