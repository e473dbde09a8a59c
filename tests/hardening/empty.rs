//! Empty batches and zero-length sequences through every layer, forward and
//! backward: each either works (an empty result of the right shape) or
//! returns an error that names the layer; none panics.

use std::panic::{catch_unwind, AssertUnwindSafe};

use candle_core::{DType, Device, Tensor, Var};
use seq::attention::{
    AttnMask, MhaInput, MultiHeadAttention, MultiHeadAttentionConfig, TransformerDecoderLayer,
    TransformerEncoderLayer, TransformerLayerConfig,
};
use seq::conv::{
    AvgPool1d, Conv1d, Conv1dConfig, GlobalAvgPool1d, GlobalMaxPool1d, MaxPool1d, Padding,
    Pool1dConfig,
};
use seq::core::{
    Dropout, Embedding, EmbeddingConfig, Engine, LayerNorm, LayerNormConfig, Linear, LinearConfig,
    Mode, Module, Params, Result, Seq,
};
use seq::recurrent::{Gru, Lstm, RecurrentConfig};

const F: usize = 8;

/// Runs `f` on `[batch, time, F]` and on its backward; returns what broke.
fn probe(
    layer: &str,
    (batch, time): (usize, usize),
    f: &dyn Fn(&Tensor) -> Result<Tensor>,
) -> Option<String> {
    let x = Var::from_tensor(&Tensor::zeros((batch, time, F), DType::F32, &Device::Cpu).unwrap())
        .unwrap();
    let run = || -> Result<()> {
        let y = f(x.as_tensor())?;
        y.sum_all()?.backward()?;
        Ok(())
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(())) => None,
        Ok(Err(e)) => {
            let msg = e.to_string();
            (!msg.contains(layer)).then(|| {
                format!("{layer} [{batch}, {time}]: the error does not name the layer: {msg}")
            })
        }
        Err(_) => Some(format!("{layer} [{batch}, {time}]: panicked")),
    }
}

#[test]
fn empty_batches_and_zero_length_sequences_never_panic() {
    let p = Params::new(0);
    let vb = p.var_builder(DType::F32, &Device::Cpu);
    let seq = |x: &Tensor| Seq::new(x.clone());
    let linear = Linear::new(LinearConfig::new(F, 4), vb.pp("fc")).unwrap();
    let norm = LayerNorm::new(LayerNormConfig::new(F), vb.pp("norm")).unwrap();
    let drop = Dropout::new(0.5, 1).unwrap();
    let emb = Embedding::new(EmbeddingConfig::new(10, F), vb.pp("emb")).unwrap();
    let rec = |e| {
        RecurrentConfig::new(F, 4)
            .with_bidirectional(true)
            .with_engine(e)
    };
    let lstm = Lstm::new(rec(Engine::Fused), vb.pp("lstm")).unwrap();
    let lstm_c = Lstm::new(rec(Engine::Composed), vb.pp("lstmc")).unwrap();
    let gru = Gru::new(rec(Engine::Fused), vb.pp("gru")).unwrap();
    let conv = Conv1d::new(
        Conv1dConfig::new(F, 4, 3).with_padding(Padding::Same),
        vb.pp("conv"),
    )
    .unwrap();
    let pool = Pool1dConfig::new(2);
    let (maxp, avgp) = (MaxPool1d::new(pool).unwrap(), AvgPool1d::new(pool).unwrap());
    let mha = MultiHeadAttention::new(MultiHeadAttentionConfig::new(F, 2), vb.pp("mha")).unwrap();
    let layer = TransformerLayerConfig::new(F, 2).with_feedforward(16);
    let enc = TransformerEncoderLayer::new(layer, vb.pp("enc")).unwrap();
    let dec = TransformerDecoderLayer::new(layer, vb.pp("dec")).unwrap();

    type Case<'a> = (&'a str, Box<dyn Fn(&Tensor) -> Result<Tensor> + 'a>);
    let cases: Vec<Case> = vec![
        ("Linear", Box::new(|x| linear.apply(x))),
        ("LayerNorm", Box::new(|x| norm.apply(x))),
        ("Dropout", Box::new(|x| drop.apply(x, Mode::Train))),
        (
            "Embedding",
            Box::new(|x| {
                // Ids [batch, time]; the input joins in to carry a gradient.
                let ids = x.sum(2)?.to_dtype(DType::U32)?;
                Ok(emb.apply(&ids)?.broadcast_add(&x.sum_keepdim(2)?)?)
            }),
        ),
        (
            "Lstm",
            Box::new(|x| Ok(lstm.forward(&seq(x)?, Mode::Train)?.values().clone())),
        ),
        (
            "Lstm",
            Box::new(|x| Ok(lstm_c.forward(&seq(x)?, Mode::Train)?.values().clone())),
        ),
        (
            "Gru",
            Box::new(|x| Ok(gru.forward(&seq(x)?, Mode::Train)?.values().clone())),
        ),
        (
            "Conv1d",
            Box::new(|x| Ok(conv.forward(&seq(x)?, Mode::Train)?.values().clone())),
        ),
        (
            "MaxPool1d",
            Box::new(|x| Ok(maxp.forward(&seq(x)?, Mode::Train)?.values().clone())),
        ),
        (
            "AvgPool1d",
            Box::new(|x| Ok(avgp.forward(&seq(x)?, Mode::Train)?.values().clone())),
        ),
        (
            "GlobalMaxPool1d",
            Box::new(|x| {
                Ok(GlobalMaxPool1d
                    .forward(&seq(x)?, Mode::Train)?
                    .values()
                    .clone())
            }),
        ),
        (
            "GlobalAvgPool1d",
            Box::new(|x| {
                Ok(GlobalAvgPool1d
                    .forward(&seq(x)?, Mode::Train)?
                    .values()
                    .clone())
            }),
        ),
        (
            "MultiHeadAttention",
            Box::new(|x| Ok(mha.forward(MhaInput::self_attn(x), Mode::Train)?.output)),
        ),
        (
            "TransformerEncoderLayer",
            Box::new(|x| enc.forward(x, None, None, Mode::Train)),
        ),
        (
            "TransformerDecoderLayer",
            Box::new(|x| {
                let causal = AttnMask::causal(x.dims()[1], 0, &Device::Cpu)?;
                dec.forward(x, x, Some(&causal), None, None, Mode::Train)
            }),
        ),
    ];
    let mut broken = Vec::new();
    for (name, f) in &cases {
        for shape in [(0, 5), (3, 0), (0, 0)] {
            broken.extend(probe(name, shape, f.as_ref()));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
