#!/usr/bin/env python3
"""recur's language-model train step against PyTorch's, measured side by side in one run.

    /usr/bin/python3 bench/compare_pytorch.py [--recur build/release/examples/recur] [--steps 20]
        [--mode lstm --input-size 64 --hidden 256 --layers 2 --batch 32 --seq 64 --vocab 65]

The step (both sides): Embedding(vocab, input_size) -> RNN -> Linear(H, vocab) -> cross-entropy
-> backward -> Adam, float32, on random tokens; median over --steps after 3 warm-up steps.
PyTorch runs twice, each in its own process:
  default: torch.set_num_threads(2) with OpenBLAS's own threads (oversubscribes 2 cores)
  best:    torch.set_num_threads(1) with OPENBLAS_NUM_THREADS=2
Prints the three medians, tokens/s and the ratios; --json writes them as one object.
On a GPU, bench/compare_pytorch_gpu.py times PyTorch's step (scripts/gpu-check.sh bench runs it
beside recur's and cuDNN's own).
"""
import argparse
import json
import os
import subprocess
import sys

TORCH_STEP = r"""
import json, statistics, sys, time
import torch
cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["torch_threads"])
torch.manual_seed(0)
mode = cfg["mode"]
if mode == "lstm":
    rnn = torch.nn.LSTM(cfg["input_size"], cfg["hidden"], cfg["layers"])
elif mode == "gru":
    rnn = torch.nn.GRU(cfg["input_size"], cfg["hidden"], cfg["layers"])
else:
    rnn = torch.nn.RNN(cfg["input_size"], cfg["hidden"], cfg["layers"],
                       nonlinearity="tanh" if mode == "rnn_tanh" else "relu")
emb = torch.nn.Embedding(cfg["vocab"], cfg["input_size"])
head = torch.nn.Linear(cfg["hidden"], cfg["vocab"])
params = list(emb.parameters()) + list(rnn.parameters()) + list(head.parameters())
opt = torch.optim.Adam(params, lr=2e-3)
x = torch.randint(0, cfg["vocab"], (cfg["seq"], cfg["batch"]))
t = torch.randint(0, cfg["vocab"], (cfg["seq"], cfg["batch"]))
times = []
for i in range(cfg["warmup"] + cfg["steps"]):
    start = time.perf_counter()
    opt.zero_grad()
    y, _ = rnn(emb(x))
    loss = torch.nn.functional.cross_entropy(head(y).reshape(-1, cfg["vocab"]), t.reshape(-1))
    loss.backward()
    opt.step()
    loss.item()
    if i >= cfg["warmup"]:
        times.append((time.perf_counter() - start) * 1e3)
print(json.dumps({"ms_per_step": statistics.median(times), "torch": torch.__version__,
                  "threads": torch.get_num_threads()}))
"""


def run_torch(cfg, torch_threads, env_extra):
    env = dict(os.environ)
    env.update(env_extra)
    c = dict(cfg, torch_threads=torch_threads)
    out = subprocess.run([sys.executable, "-c", TORCH_STEP, json.dumps(c)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p.add_argument("--recur", default=os.path.join(here, "build", "release", "examples", "recur"))
    p.add_argument("--mode", default="lstm")
    p.add_argument("--input-size", type=int, default=64)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--vocab", type=int, default=65)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    cfg = dict(mode=a.mode, input_size=a.input_size, hidden=a.hidden, layers=a.layers, batch=a.batch, seq=a.seq,
               vocab=a.vocab, steps=a.steps, warmup=a.warmup)
    cmd = [a.recur, "bench", "train-step", "--mode", a.mode, "--input-size", str(a.input_size), "--hidden",
           str(a.hidden), "--layers", str(a.layers), "--batch", str(a.batch), "--seq", str(a.seq), "--vocab",
           str(a.vocab), "--steps", str(a.steps), "--warmup", str(a.warmup), "--threads", str(a.threads), "--json"]
    recur = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    default = run_torch(cfg, a.threads, {})
    best = run_torch(cfg, 1, {"OPENBLAS_NUM_THREADS": str(a.threads)})
    tokens = a.batch * a.seq
    rows = [("recur", recur["ms_per_step"]), ("pytorch default", default["ms_per_step"]),
            ("pytorch best", best["ms_per_step"])]
    result = {"config": cfg, "recur": recur, "pytorch_default": default, "pytorch_best": best,
              "speedup_vs_best": best["ms_per_step"] / recur["ms_per_step"],
              "speedup_vs_default": default["ms_per_step"] / recur["ms_per_step"]}
    if a.json:
        print(json.dumps(result))
        return
    print(f"train step: {a.mode} I={a.input_size} H={a.hidden} L={a.layers} B={a.batch} T={a.seq} V={a.vocab}, "
          f"float32, {a.threads} threads, median of {a.steps}")
    for name, ms in rows:
        print(f"  {name:16s} {ms:8.2f} ms/step  {tokens / ms * 1e3:9.0f} tokens/s")
    print(f"  recur vs pytorch best:    {result['speedup_vs_best']:.2f}x")
    print(f"  recur vs pytorch default: {result['speedup_vs_default']:.2f}x")
    print(f"  recur: {recur['gflops']:.0f} GFLOP/s on the step's GEMMs ({recur['gemm']} GEMM, {recur['impl']} RNN)")


if __name__ == "__main__":
    main()
