#!/usr/bin/env python3
"""PyTorch's recurrent language-model train step on the GPU, timed the way recur's is compared.

    python3 bench/compare_pytorch_gpu.py [--name reference] [--mode lstm --embedding 64 --hidden 256
        --layers 2 --batch 32 --bptt 64 --vocab-size 65] [--dtype float32] [--steps 50] [--untimed-steps 10]
        [--device cuda:0]
    python3 bench/compare_pytorch_gpu.py --table bench.jsonl [--commit C] [--machine "GPU name"]

The step, with --vocab-size > 0 the one of `recur bench train-step` and bench/compare_pytorch.py:
Embedding(vocab, input_size) -> RNN -> Linear(H, vocab) -> cross-entropy -> backward -> Adam,
on random tokens. With --vocab-size 0 the RNN alone: a random float input [seq, batch, input_size],
the backward of sum(Y * G) for a fixed random G, Adam on the RNN's parameters (the work of
bench_cudnn_baseline --vocab-size 0 plus the optimizer). TF32 is off (matmul and cuDNN). Each step
is timed with CUDA events from zero_grad to the end of the optimizer step and synchronised;
prints the median over --steps after --untimed-steps steps as one JSON line, in the format of
bench_cudnn_baseline and `recur bench train-step --json`.

--table reads the JSON lines scripts/gpu-check.sh collects (recur's "train-step", the
"cudnn-baseline" and "pytorch-train-step", each with a "config" name) and prints the markdown
tables for bench/RESULTS.md: recur against the cuDNN + cuBLAS floor (target <= 1.10) and
against PyTorch (target <= 1.00).
"""
import argparse
import datetime
import json
import statistics
import sys
import time

BASELINE_TARGET = 1.10
PYTORCH_TARGET = 1.00


def gemm_flops(mode, input_size, hidden, layers, vocab, tokens):
    """The step's GEMM FLOPs, counted as `recur bench train-step` counts them."""
    gates = {"lstm": 4, "gru": 3}.get(mode, 1) * hidden
    flops = 0.0
    for layer in range(layers):
        flops += 2.0 * gates * ((input_size if layer == 0 else hidden) + hidden)
    flops += 2.0 * hidden * vocab
    return flops * 3.0 * tokens


def measure(a):
    try:
        import torch
    except ImportError as e:
        print(f"compare_pytorch_gpu.py: PyTorch is not importable ({e})", file=sys.stderr)
        return 1
    if not torch.cuda.is_available():
        print(f"compare_pytorch_gpu.py: no usable GPU (torch {torch.__version__}, built for CUDA "
              f"{torch.version.cuda}, sees no CUDA device); nothing was measured", file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device(a.device)
    dtype = torch.float64 if a.dtype == "float64" else torch.float32
    torch.manual_seed(0)
    if a.mode == "lstm":
        rnn = torch.nn.LSTM(a.input_size, a.hidden, a.layers)
    elif a.mode == "gru":
        rnn = torch.nn.GRU(a.input_size, a.hidden, a.layers)
    else:
        rnn = torch.nn.RNN(a.input_size, a.hidden, a.layers, nonlinearity="tanh" if a.mode == "rnn_tanh" else "relu")
    modules = [rnn]
    if a.vocab > 0:
        emb = torch.nn.Embedding(a.vocab, a.input_size)
        head = torch.nn.Linear(a.hidden, a.vocab)
        modules += [emb, head]
    for m in modules:
        m.to(device=device, dtype=dtype)
    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=2e-3)
    tokens = a.seq * a.batch
    if a.vocab > 0:
        x = torch.randint(0, a.vocab, (a.seq, a.batch), device=device)
        targets = torch.randint(0, a.vocab, (a.seq, a.batch), device=device)
    else:
        x = torch.rand(a.seq, a.batch, a.input_size, device=device, dtype=dtype) * 2 - 1
        g = (torch.rand(a.seq, a.batch, a.hidden, device=device, dtype=dtype) * 2 - 1) / tokens

    def step():
        opt.zero_grad()
        if a.vocab > 0:
            y, _ = rnn(emb(x))
            loss = torch.nn.functional.cross_entropy(head(y).reshape(-1, a.vocab), targets.reshape(-1))
            loss.backward()
        else:
            y, _ = rnn(x)
            loss = None
            y.backward(g)
        opt.step()
        return loss

    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times, walls = [], []
    loss = None
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        start.record()
        loss = step()
        end.record()
        end.synchronize()
        wall = (time.perf_counter() - t0) * 1e3
        if i >= a.warmup:
            times.append(start.elapsed_time(end))
            walls.append(wall)
    ms = statistics.median(times)
    flops = gemm_flops(a.mode, a.input_size, a.hidden, a.layers, a.vocab, tokens)
    print(json.dumps({
        "benchmark": "pytorch-train-step", "config": a.name, "mode": a.mode, "input_size": a.input_size,
        "hidden": a.hidden, "layers": a.layers, "batch": a.batch, "seq": a.seq, "vocab": a.vocab, "dtype": a.dtype,
        "device": str(device), "gpu": torch.cuda.get_device_name(device), "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version(), "tf32": False, "steps": a.steps, "warmup": a.warmup,
        "ms_per_step": ms, "ms_min": min(times), "ms_wall": statistics.median(walls),
        "tokens_per_s": tokens / (ms / 1e3), "gflop_per_step": flops / 1e9, "gflops": flops / (ms / 1e3) / 1e9,
        "loss": loss.item() if loss is not None else None}))
    return 0


def cudnn_version(v):
    """cuDNN's integer version (91900) as text (9.19.0)."""
    if not isinstance(v, int) or v <= 0:
        return "?"
    return f"{v // 10000}.{v % 10000 // 100}.{v % 100}" if v >= 9000 else str(v)


def table(path, commit, machine):
    rows, order = {}, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            j = json.loads(line)
            name = j.get("config", "?")
            if name not in rows:
                rows[name] = {}
                order.append(name)
            rows[name][j.get("benchmark")] = j
    if not order:
        print(f"compare_pytorch_gpu.py: no JSON lines in {path}", file=sys.stderr)
        return 1

    def ms(r, key):
        return f"{r[key]['ms_per_step']:.3f}" if key in r else "failed"

    def ratio(r, key, target):
        if "train-step" not in r or key not in r:
            return "n/a"
        x = r["train-step"]["ms_per_step"] / r[key]["ms_per_step"]
        return f"{x:.2f} ({'ok' if x <= target else 'over'})"

    def first(key, field):
        for name in order:
            if key in rows[name] and field in rows[name][key]:
                return rows[name][key][field]
        return None

    steps = first("train-step", "steps") or first("pytorch-train-step", "steps")
    warmup = first("pytorch-train-step", "warmup") or first("cudnn-baseline", "warmup")
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    out = [f"### GPU: the train step on {machine} ({today})", "",
           f"Commit {commit}. float32, TF32 off everywhere; median of {steps} steps after {warmup} warm-up steps.",
           f"cuDNN {cudnn_version(first('cudnn-baseline', 'cudnn'))} (recur and the baseline), PyTorch "
           f"{first('pytorch-train-step', 'torch') or '?'} with cuDNN "
           f"{cudnn_version(first('pytorch-train-step', 'cudnn'))}. Made by `scripts/gpu-check.sh bench`.", "",
           "| config | shape | recur ms/step | cuDNN + cuBLAS ms | PyTorch ms/step "
           f"| recur / baseline (<= {BASELINE_TARGET:.2f}) | recur / PyTorch (<= {PYTORCH_TARGET:.2f}) "
           "| recur tokens/s |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    notes = []
    for name in order:
        r = rows[name]
        any_row = next(iter(r.values()))
        # The configuration's vocabulary: the baseline's, else the one gpu-check.sh asked recur for.
        base_vocab = r.get("cudnn-baseline", {}).get("vocab", r.get("train-step", {}).get("config_vocab",
                                                                                            any_row.get("vocab")))
        shape = (f"{any_row.get('mode')} I={any_row.get('input_size')} H={any_row.get('hidden')} "
                 f"L={any_row.get('layers')} B={any_row.get('batch')} T={any_row.get('seq')} V={base_vocab}")
        recur_vocab = r.get("train-step", {}).get("vocab", base_vocab)
        mark = ""
        if recur_vocab != base_vocab:
            mark = " [1]"
            if not notes:
                notes.append(f"[1] recur and PyTorch ran with a {recur_vocab}-word embedding and head (recur's step "
                             "always has them); the baseline is the RNN alone.")
        tps = f"{r['train-step']['tokens_per_s']:,.0f}" if "train-step" in r else "failed"
        out.append(f"| {name}{mark} | {shape} | {ms(r, 'train-step')} | {ms(r, 'cudnn-baseline')} "
                   f"| {ms(r, 'pytorch-train-step')} | {ratio(r, 'cudnn-baseline', BASELINE_TARGET)} "
                   f"| {ratio(r, 'pytorch-train-step', PYTORCH_TARGET)} | {tps} |")
    out += [""] + notes + ([""] if notes else [])
    out += ["Where the baseline's time goes (CUDA events, medians, ms):", "",
            "| config | RNN forward | head GEMMs | RNN backward data | RNN backward weights | total | GFLOP/s |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name in order:
        b = rows[name].get("cudnn-baseline")
        if b is None:
            out.append(f"| {name} | failed | | | | | |")
            continue
        out.append(f"| {name} | {b['ms_forward']:.3f} | {b['ms_head']:.3f} | {b['ms_backward_data']:.3f} "
                   f"| {b['ms_backward_weights']:.3f} | {b['ms_per_step']:.3f} | {b['gflops']:.0f} |")
    print("\n".join(out))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", default="custom", help="the configuration's name in the JSON line")
    p.add_argument("--mode", default="lstm", choices=["lstm", "gru", "rnn_tanh", "rnn_relu"])
    p.add_argument("--embedding", type=int, default=64, dest="input_size")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--bptt", type=int, default=64, dest="seq")
    p.add_argument("--vocab-size", type=int, default=65, dest="vocab", help="0: the RNN alone, no embedding or head")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--untimed-steps", type=int, default=10, dest="warmup")
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--table", metavar="JSONL", help="print the markdown tables of these JSON lines instead")
    p.add_argument("--commit", default="unknown", help="with --table: the commit measured")
    p.add_argument("--machine", default="unknown GPU", help="with --table: the GPU's name")
    a = p.parse_args()
    if a.table:
        return table(a.table, a.commit, a.machine)
    for flag, value in (("--embedding", a.input_size), ("--hidden", a.hidden), ("--layers", a.layers),
                        ("--batch", a.batch), ("--bptt", a.seq), ("--steps", a.steps)):
        if value < 1:
            p.error(f"{flag} must be at least 1")
    if a.vocab < 0 or a.warmup < 0:
        p.error("--vocab-size and --untimed-steps must not be negative")
    return measure(a)


if __name__ == "__main__":
    sys.exit(main())
