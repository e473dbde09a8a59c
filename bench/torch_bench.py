"""PyTorch side of `cargo xtask bench --torch`: the workloads of
`benches/recurrent.rs` and `benches/layers.rs` with the same shapes, on the
CPU with 2 threads, f32, median (min-max) of repeated runs after two
warm-ups. Writes `target/bench/torch.json` with the same row names.

Run where torch is installed: `python bench/torch_bench.py` (or through
`cargo xtask bench --torch`, which uses `$SEQ_TORCH_PYTHON` or `python3`).
"""
import json
import os
import time

import torch
import torch.nn as nn

torch.set_num_threads(2)
torch.manual_seed(0)
RUNS = 11


def timed(f):
    for _ in range(2):
        f()
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

    return timed(fwd), timed(fwd_bwd)


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
    step = sentiment_step()
    name = "sentiment training step [64,40] BiLSTM 64 + AdamW"
    print(f"{name:<58} step {step[0]:7.1f} ms")
    rows.append({"workload": name, "fwd_bwd_ms": step, "tokens_per_s": 2560 / (step[0] / 1e3)})
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "bench")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "torch.json"), "w") as f:
        json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
