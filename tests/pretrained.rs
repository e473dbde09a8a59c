//! Models saved as folders (`config.json` + `model.safetensors`) and used
//! again: the loaded model computes what the saved one did, a folder of
//! another model type or with a tensor missing is refused naming the file,
//! and a folder in the Hub's cache loads offline.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use seq::attention::{TransformerConfig, TransformerSeq2Seq, TransformerSeq2SeqConfig};
use seq::conv::{Conv1d, Conv1dConfig, Padding};
use seq::core::pretrained::{from_pretrained, save_pretrained, Pretrained};
use seq::core::testing::max_abs_diff;
use seq::core::{Mode, Params};
use seq::data::hub::hub_pretrained;
use seq::recurrent::topology::{Score, Seq2Seq, Seq2SeqConfig};
use seq::recurrent::{Lstm, RecurrentConfig};

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seq-pretrained-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Builds `M` from `config` with seed 7, saves it to a new folder, loads it
/// back; returns both models and the folder.
fn round_trip<M: Pretrained>(config: M::Config, name: &str) -> (M, M, PathBuf) {
    let params = Params::new(7);
    let model = M::build(&config, params.var_builder(DType::F64, &Device::Cpu)).unwrap();
    let dir = folder(name);
    save_pretrained(&model, &params, &dir).unwrap();
    let (loaded, loaded_params) = from_pretrained::<M>(&dir, DType::F64, &Device::Cpu).unwrap();
    assert_eq!(loaded_params.names(), params.names());
    (model, loaded, dir)
}

fn ids(rows: &[&[u32]]) -> Tensor {
    Tensor::new(
        rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        &Device::Cpu,
    )
    .unwrap()
}

#[test]
fn an_lstm_and_a_convolution_come_back_the_same() {
    let x = Tensor::randn(0f64, 1.0, (2, 6, 3), &Device::Cpu).unwrap();
    let config = RecurrentConfig::new(3, 5)
        .with_layers(2)
        .with_bidirectional(true);
    let (lstm, again, dir) = round_trip::<Lstm>(config, "lstm");
    assert_eq!(
        max_abs_diff(&x.apply(&lstm).unwrap(), &x.apply(&again).unwrap()).unwrap(),
        0.0
    );
    let json = std::fs::read_to_string(dir.join("config.json")).unwrap();
    assert!(
        json.contains("\"model_type\": \"lstm\"") && json.contains("\"hidden_size\": 5"),
        "{json}"
    );

    let config = Conv1dConfig::new(3, 4, 3)
        .with_dilation(2)
        .with_padding(Padding::Causal);
    let (conv, again, _) = round_trip::<Conv1d>(config, "conv");
    assert_eq!(again.config(), &config);
    assert_eq!(
        max_abs_diff(&x.apply(&conv).unwrap(), &x.apply(&again).unwrap()).unwrap(),
        0.0
    );
}

#[test]
fn both_translators_come_back_and_translate_the_same() {
    let src = ids(&[&[4, 5, 6, 0], &[7, 8, 9, 10]]);
    let tgt = ids(&[&[2, 11, 12], &[2, 13, 0]]);
    let transformer = TransformerConfig::new(16, 2).with_layers(1, 1);
    let config = TransformerSeq2SeqConfig::new(20, 24, transformer).with_max_len(32);
    let (model, again, _) = round_trip::<TransformerSeq2Seq>(config, "transformer");
    let a = model.forward(&src, &tgt, Mode::Eval).unwrap();
    let b = again.forward(&src, &tgt, Mode::Eval).unwrap();
    assert_eq!(max_abs_diff(&a, &b).unwrap(), 0.0);
    let greedy = |m: &TransformerSeq2Seq| m.greedy(&src, 2, 3, 6, true).unwrap();
    assert_eq!(
        greedy(&model)
            .iter()
            .map(|h| h.tokens.clone())
            .collect::<Vec<_>>(),
        greedy(&again)
            .iter()
            .map(|h| h.tokens.clone())
            .collect::<Vec<_>>()
    );

    let config = Seq2SeqConfig::new(20, 24, 8, 12).with_attention(Score::Additive);
    let (model, again, _) = round_trip::<Seq2Seq>(config, "gru");
    assert_eq!(again.config().attention, Some(Score::Additive));
    let a = model.forward(&src, &tgt, Mode::Eval).unwrap();
    let b = again.forward(&src, &tgt, Mode::Eval).unwrap();
    assert_eq!(max_abs_diff(&a, &b).unwrap(), 0.0);
}

#[test]
fn a_folder_of_another_model_or_with_a_tensor_missing_is_refused() {
    let (_, _, dir) = round_trip::<Lstm>(RecurrentConfig::new(2, 3), "refused");
    let err = from_pretrained::<Conv1d>(&dir, DType::F64, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("config.json") && err.contains("\"conv1d\""),
        "{err}"
    );
    // The configuration says 2 layers; the weights hold one.
    let config = dir.join("config.json");
    let json = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        json.replace("\"num_layers\": 1", "\"num_layers\": 2"),
    )
    .unwrap();
    let err = from_pretrained::<Lstm>(&dir, DType::F64, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("weight_ih_l1"),
        "{err}"
    );
    // Not JSON at all.
    std::fs::write(&config, "{ nope").unwrap();
    let err = from_pretrained::<Lstm>(&dir, DType::F64, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("config.json"), "{err}");
}

/// Lays `folder`'s files out as the Hub's cache does for `owner/name`.
fn cache_with(cache: &Path, repo: &str, folder: &Path) {
    let repo_dir = cache.join(format!("models--{}", repo.replace('/', "--")));
    let snapshot = repo_dir.join("snapshots").join("5eed");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
    std::fs::write(repo_dir.join("refs").join("main"), "5eed").unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(folder.join(file), snapshot.join(file)).unwrap();
    }
}

#[test]
fn a_model_in_the_hub_cache_loads_offline() {
    let (lstm, _, dir) = round_trip::<Lstm>(RecurrentConfig::new(3, 4), "hub");
    let cache = folder("hub-cache");
    cache_with(&cache, "seq-rs/tiny-lstm", &dir);
    let (again, _) = hub_pretrained::<Lstm>(
        "seq-rs/tiny-lstm",
        Some(&cache),
        true,
        DType::F64,
        &Device::Cpu,
    )
    .unwrap();
    let x = Tensor::randn(0f64, 1.0, (1, 4, 3), &Device::Cpu).unwrap();
    assert_eq!(
        max_abs_diff(&x.apply(&lstm).unwrap(), &x.apply(&again).unwrap()).unwrap(),
        0.0
    );
    let missing =
        hub_pretrained::<Lstm>("seq-rs/other", Some(&cache), true, DType::F64, &Device::Cpu);
    assert!(missing
        .err()
        .unwrap()
        .to_string()
        .contains("not in the cache"));
}
