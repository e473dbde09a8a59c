"""PyTorch side of `cargo xtask bench --torch`: the workloads of
`benches/recurrent.rs` and `benches/layers.rs` with the same shapes, on the
CPU with 2 threads, f32, median (min-max) of repeated runs after a
warm-up (two runs and at least a quarter of a second). Writes
`target/bench/torch.json` with the same row names.

Fair to PyTorch: forward rows run in eval mode under `no_grad` (its
inference fast paths, as seq's forward rows run in `Mode::Eval`);
forward+backward rows in training mode with the same dropout as seq's;
subnormals flushed on both sides.

`python bench/torch_bench.py --long-context` runs only the long-context row
(causal self-attention over 4,096 steps) and prints its time and the
process's peak resident memory as JSON: the memory is per process, so each
side of that row runs alone.

Run where torch is installed: `python bench/torch_bench.py` (or through
`cargo xtask bench --torch`, which uses `$SEQ_TORCH_PYTHON` or `python3`).
"""
import json
import os
import time

import torch
import torch.nn as nn

torch.set_num_threads(2)
torch.set_flush_denormal(True)
torch.manual_seed(0)
RUNS = 11


def timed(f):
    # Warm up for two runs and at least a quarter of a second, as seq's
    # benches do: the first rows of a run otherwise catch the machine
    # settling.
    start, k = time.perf_counter(), 0
    while k < 2 or time.perf_counter() - start < 0.25:
        f()
        k += 1
    ms = []
    for _ in range(RUNS):
        start = time.perf_counter()
        f()
        ms.append((time.perf_counter() - start) * 1e3)
    ms.sort()
    return [ms[RUNS // 2], ms[0], ms[-1]]


def fwd_and_bwd(module, run):
    def fwd():
        with torch.no_grad():
            run(module)

    def fwd_bwd():
        module.zero_grad(set_to_none=True)
        run(module).backward()

    module.eval()
    forward = timed(fwd)
    module.train()
    return forward, timed(fwd_bwd)


def recurrent(layer, shape):
    x = torch.randn(*shape)
    return layer, lambda m: m(x)[0].sum()


def workloads():
    yield "lstm [32,100,64] -> 128", 3200, recurrent(nn.LSTM(64, 128, batch_first=True), (32, 100, 64))
    yield "gru [32,100,64] -> 128", 3200, recurrent(nn.GRU(64, 128, batch_first=True), (32, 100, 64))
    yield "rnn tanh [32,100,64] -> 128", 3200, recurrent(nn.RNN(64, 128, batch_first=True), (32, 100, 64))
    bi = nn.LSTM(64, 128, num_layers=2, bidirectional=True, batch_first=True)
    yield "lstm 2 layers bidirectional [32,100,64] -> 128", 3200, recurrent(bi, (32, 100, 64))
    yield "lstm [8,1000,32] -> 64", 8000, recurrent(nn.LSTM(32, 64, batch_first=True), (8, 1000, 32))
    convs = nn.Sequential(*[m for _ in range(3) for m in (nn.Conv1d(64, 64, 3, padding=1), nn.ReLU())])
    x = torch.randn(32, 64, 500)
    yield "conv1d stack 3 x (64 -> 64, k3) [32,500,64]", 16000, (convs, lambda m: m(x).sum())
    layer = nn.TransformerEncoderLayer(128, 4, 512, batch_first=True)
    enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    x = torch.randn(32, 128, 128)
    yield "transformer encoder 2 layers d128 h4 ff512 [32,128,128]", 4096, (enc, lambda m: m(x).sum())
    mha = nn.MultiheadAttention(256, 8, batch_first=True)
    x = torch.randn(8, 512, 256)
    causal = torch.triu(torch.ones(512, 512, dtype=torch.bool), 1)
    yield "causal self-attention 256 wide, 8 heads [8,512,256]", 4096, (
        mha,
        lambda m: m(x, x, x, attn_mask=causal, need_weights=False)[0].sum(),
    )


def transformer_sentiment_step():
    """The sentiment example's `--model transformer` step: embeddings 64 with
    dropout 0.3 and sinusoidal positions, 2 pre-norm layers (4 heads, ff 128,
    dropout 0.3) and a final norm, the mean over real words, one logit; 64
    reviews of 40 words, row i ending in i % 8 padding ids."""
    d, ff, p = 64, 128, 0.3
    emb = nn.Embedding(20000, d, padding_idx=0)
    layer = nn.TransformerEncoderLayer(d, 4, ff, dropout=p, batch_first=True, norm_first=True)
    enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(d), enable_nested_tensor=False)
    head = nn.Linear(d, 1)
    params = [*emb.parameters(), *enc.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)
    ids = torch.tensor([4 + (i * 7919 % 19000) for i in range(64 * 40)]).view(64, 40)
    pad = torch.zeros(64, 40, dtype=torch.bool)
    for i in range(64):
        if i % 8:
            pad[i, 40 - i % 8 :] = True
    ids[pad] = 0
    pos = torch.arange(40).unsqueeze(1) / torch.pow(10000.0, torch.arange(0, d, 2) / d)
    pe = torch.zeros(40, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos), torch.cos(pos)
    y = torch.tensor([float(i % 2) for i in range(64)]).view(64, 1)
    keep = (~pad).unsqueeze(-1).float()
    enc.train()

    def step():
        opt.zero_grad(set_to_none=True)
        x = nn.functional.dropout(emb(ids), p) + pe
        h = enc(x, src_key_padding_mask=pad)
        z = head((h * keep).sum(1) / keep.sum(1))
        nn.functional.binary_cross_entropy_with_logits(z, y).backward()
        opt.step()

    return timed(step)


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def long_context():
    """Causal self-attention 256 wide, 8 heads, batch 1, 4,096 steps,
    forward+backward; the median of 3 runs after one warm-up."""
    mha = nn.MultiheadAttention(256, 8, batch_first=True)
    x = torch.randn(1, 4096, 256)
    causal = torch.triu(torch.ones(4096, 4096, dtype=torch.bool), 1)

    def run():
        mha.zero_grad(set_to_none=True)
        mha(x, x, x, attn_mask=causal, need_weights=False, is_causal=True)[0].sum().backward()

    run()
    ms = []
    for _ in range(3):
        start = time.perf_counter()
        run()
        ms.append((time.perf_counter() - start) * 1e3)
    ms.sort()
    print(json.dumps({"fwd_bwd_ms": [ms[1], ms[0], ms[2]], "peak_rss_mib": peak_rss_mib()}))


def sentiment_step():
    emb = nn.Embedding(20000, 64, padding_idx=0)
    lstm = nn.LSTM(64, 64, bidirectional=True, batch_first=True)
    head = nn.Linear(128, 1)
    params = [*emb.parameters(), *lstm.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)
    ids = torch.tensor([4 + (i * 7919 % 19000) for i in range(64 * 40)]).view(64, 40)
    y = torch.tensor([float(i % 2) for i in range(64)]).view(64, 1)

    def step():
        opt.zero_grad(set_to_none=True)
        _, (h, _) = lstm(emb(ids))
        z = head(torch.cat([h[-2], h[-1]], 1))
        nn.functional.binary_cross_entropy_with_logits(z, y).backward()
        opt.step()

    return timed(step)


def main():
    rows = []
    for name, tokens, (module, run) in workloads():
        fwd, fwd_bwd = fwd_and_bwd(module, run)
        print(f"{name:<58} fwd {fwd[0]:8.1f}  fwd+bwd {fwd_bwd[0]:8.1f} ms")
        rows.append({"workload": name, "fwd_ms": fwd, "fwd_bwd_ms": fwd_bwd, "tokens_per_s": tokens / (fwd_bwd[0] / 1e3)})
    for name, run in [
        ("sentiment training step [64,40] BiLSTM 64 + AdamW", sentiment_step),
        ("sentiment training step [64,40] Transformer 2 x d64 + AdamW", transformer_sentiment_step),
    ]:
        step = run()
        print(f"{name:<58} step {step[0]:7.1f} ms")
        rows.append({"workload": name, "fwd_bwd_ms": step, "tokens_per_s": 2560 / (step[0] / 1e3)})
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "bench")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "torch.json"), "w") as f:
        json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    import sys

    long_context() if "--long-context" in sys.argv else main()
