//! The hub loader reads from a local cache laid out as hf-hub lays it out,
//! with the network off; pretrained vectors in the three formats fill an
//! embedding for a vocabulary and report coverage.

use std::path::PathBuf;

use seq_data::hub::{hub_file, hub_tokenizer};
use seq_data::vectors::{pretrained_embeddings, read_vectors, Unknown, VectorFormat};
use seq_data::{Tokenizer, VocabConfig};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("seq-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn tokenizer() -> Tokenizer {
    let texts = ["the cat sat", "the dog sat down", "a cat"];
    Tokenizer::word_level(texts.iter().copied(), VocabConfig::default()).unwrap()
}

#[test]
fn a_tokenizer_loads_from_the_local_hub_cache_offline() {
    let cache = temp_dir("hub");
    let snapshot = cache
        .join("models--seq-rs--tiny")
        .join("snapshots")
        .join("0123abcd");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(cache.join("models--seq-rs--tiny").join("refs")).unwrap();
    std::fs::write(
        cache.join("models--seq-rs--tiny").join("refs").join("main"),
        "0123abcd",
    )
    .unwrap();
    let tk = tokenizer();
    tk.save(&snapshot.join("tokenizer.json")).unwrap();

    let path = hub_file("seq-rs/tiny", "tokenizer.json", Some(&cache), true).unwrap();
    assert_eq!(path, snapshot.join("tokenizer.json"));
    let loaded = hub_tokenizer("seq-rs/tiny", Some(&cache), true).unwrap();
    assert_eq!(
        loaded.encode("the cat sat down", false).unwrap(),
        tk.encode("the cat sat down", false).unwrap()
    );
    let err = hub_file("seq-rs/other", "tokenizer.json", Some(&cache), true)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not in the cache") && err.contains("network is off"),
        "{err}"
    );
}

#[test]
fn word_vectors_in_every_format_fill_the_embedding() {
    let dir = temp_dir("vectors");
    let words = [
        ("the", [0.5f32, -1.0]),
        ("cat", [2.0, 0.25]),
        ("zebra", [9.0, 9.0]),
    ];
    let glove: String = words
        .iter()
        .map(|(w, v)| format!("{w} {} {}\n", v[0], v[1]))
        .collect();
    std::fs::write(dir.join("g.txt"), &glove).unwrap();
    std::fs::write(dir.join("w.txt"), format!("3 2\n{glove}")).unwrap();
    let mut bin = b"3 2\n".to_vec();
    for (w, v) in &words {
        bin.extend(format!("{w} ").as_bytes());
        bin.extend(v.iter().flat_map(|x| x.to_le_bytes()));
        bin.push(b'\n');
    }
    std::fs::write(dir.join("w.bin"), &bin).unwrap();
    let tk = tokenizer();
    for (file, format) in [
        ("g.txt", VectorFormat::Glove),
        ("w.txt", VectorFormat::Word2VecText),
        ("w.bin", VectorFormat::Word2VecBinary),
    ] {
        let vectors = read_vectors(&dir.join(file), format).unwrap();
        assert_eq!(vectors["cat"], vec![2.0, 0.25], "{file}");
        let p = pretrained_embeddings(&dir.join(file), format, &tk, Unknown::Zero).unwrap();
        assert_eq!(p.found, 2, "the and cat of {} words", p.vocab_size);
        assert!((p.coverage() - 2.0 / p.vocab_size as f64).abs() < 1e-12);
        let cat = tk.token_to_id("cat").unwrap() as usize;
        let w = p.weights.to_vec2::<f32>().unwrap();
        assert_eq!(w[cat], vec![2.0, 0.25]);
        assert_eq!(w[0], vec![0.0, 0.0]);
    }
    let random = pretrained_embeddings(
        &dir.join("g.txt"),
        VectorFormat::Glove,
        &tk,
        Unknown::Random {
            scale: 0.1,
            seed: 1,
        },
    )
    .unwrap();
    let dog = tk.token_to_id("dog").unwrap() as usize;
    let row = &random.weights.to_vec2::<f32>().unwrap()[dog];
    assert!(row.iter().all(|v| v.abs() <= 0.1) && row.iter().any(|v| *v != 0.0));
    std::fs::write(dir.join("bad.txt"), "the 1 2\ncat 1 x\n").unwrap();
    let err = read_vectors(&dir.join("bad.txt"), VectorFormat::Glove)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.txt:2:3"), "{err}");
}

#[test]
fn a_poisoned_cache_cannot_lead_outside_it() {
    let root = temp_dir("hub-poison");
    let (cache, outside) = (root.join("cache"), root.join("outside"));
    std::fs::create_dir_all(outside.join("snap")).unwrap();
    tokenizer()
        .save(&outside.join("snap").join("tokenizer.json"))
        .unwrap();
    tokenizer().save(&outside.join("tokenizer.json")).unwrap();
    let repo_dir = cache.join("models--seq-rs--tiny");
    std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
    let refuse = |repo: &str, file: &str, why: &str| {
        let err = hub_file(repo, file, Some(&cache), true);
        assert!(err.is_err(), "{why}: {repo}/{file} was accepted: {err:?}");
    };
    // A refs file that climbs out of the cache to a real tokenizer.
    std::fs::write(repo_dir.join("refs").join("main"), "../../../outside/snap").unwrap();
    refuse(
        "seq-rs/tiny",
        "tokenizer.json",
        "refs naming a folder outside",
    );
    // A snapshot whose file is a link to a file outside the cache.
    std::fs::write(repo_dir.join("refs").join("main"), "abc123").unwrap();
    let snapshot = repo_dir.join("snapshots").join("abc123");
    std::fs::create_dir_all(&snapshot).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(
            outside.join("tokenizer.json"),
            snapshot.join("tokenizer.json"),
        )
        .unwrap();
        refuse("seq-rs/tiny", "tokenizer.json", "a link to a file outside");
    }
    // Names that climb by themselves, absolute names, odd repository ids.
    refuse(
        "seq-rs/tiny",
        "../../../outside/tokenizer.json",
        "a file name with ..",
    );
    let absolute = outside.join("tokenizer.json");
    refuse(
        "seq-rs/tiny",
        absolute.to_str().unwrap(),
        "an absolute file name",
    );
    refuse("../outside", "tokenizer.json", "a repository id with ..");
    refuse("a/b/c", "tokenizer.json", "a repository id of three parts");
    refuse(
        "seq-rs/ti ny",
        "tokenizer.json",
        "a space in a repository id",
    );
    // A link inside the cache is fine (hf-hub's own layout links to blobs/).
    let blobs = repo_dir.join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    tokenizer().save(&blobs.join("f00d")).unwrap();
    std::fs::remove_file(snapshot.join("tokenizer.json")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("../../blobs/f00d", snapshot.join("tokenizer.json")).unwrap();
    #[cfg(not(unix))]
    tokenizer().save(&snapshot.join("tokenizer.json")).unwrap();
    assert!(hub_tokenizer("seq-rs/tiny", Some(&cache), true).is_ok());
}
