#!/usr/bin/env python3
"""recur's language-model train step against PyTorch's, measured side by side in one run.

    /usr/bin/python3 bench/compare_pytorch.py [--recur build/release/examples/recur] [--steps 20]
        [--repeat 1] [--mode lstm --embedding 64 --hidden 256 --layers 2 --batch 32 --bptt 64 --vocab-size 65]

The step (both sides): Embedding(vocab, input_size) -> RNN -> Linear(H, vocab) -> cross-entropy
-> backward -> Adam, float32, on random tokens; median over --steps after 3 warm-up steps.

PyTorch (Debian's, on OpenBLAS) runs in processes of its own:
  default: torch.set_num_threads(T) with OpenBLAS as the environment leaves it (OpenBLAS's own
           T threads too: oversubscribes T cores; its kernel is whatever OpenBLAS detects)
  best:    the fastest of the candidates below, timed briefly (2 alternating rounds of
           --probe-steps steps) before the run: every OpenBLAS kernel the CPU can run
           (OPENBLAS_CORETYPE=SkylakeX with avx512f/bw/dq/vl, Haswell with avx2 + fma, and
           OpenBLAS's own choice, set explicitly per candidate) with torch.set_num_threads(1) and
           OPENBLAS_NUM_THREADS=T, then the chosen kernel with torch.set_num_threads(T) and
           OPENBLAS_NUM_THREADS=1. The fastest step of a candidate counts, and the kernel for the
           wider vectors wins ties within 10% (a loaded machine makes brief probes noisy).
OpenBLAS 0.3.21 falls back to its Prescott (SSE3) kernels on CPUs it does not know (an AVX-512
Xeon of model 207, for one), which makes PyTorch 2-3x slower than the CPU allows; the search
finds the kernel that is really fastest. Each PyTorch row runs with OPENBLAS_VERBOSE=2, and the
kernel OpenBLAS reports ("Core: ...") is printed beside it. recur runs with the best row's
OPENBLAS_CORETYPE too (its GEMMs go to oneDNN by default; `recur info` says which GEMM and which
OpenBLAS kernel it uses, both printed).

--repeat N runs the rows N times, alternating, and reports the median of the N medians with
every run's value; the load average (/proc/loadavg) before and after is printed: other processes
on the cores slow both sides, so compare rows of the same run. --json writes one object.
On a GPU, bench/compare_pytorch_gpu.py times PyTorch's step (scripts/gpu-check.sh bench runs it
beside recur's and cuDNN's own).
"""
import argparse
import json
import os
import re
import statistics
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
began = time.perf_counter()
for i in range(cfg["warmup"] + cfg["steps"]):
    if times and time.perf_counter() - began > cfg.get("budget_s", float("inf")):
        break
    start = time.perf_counter()
    opt.zero_grad()
    y, _ = rnn(emb(x))
    loss = torch.nn.functional.cross_entropy(head(y).reshape(-1, cfg["vocab"]), t.reshape(-1))
    loss.backward()
    opt.step()
    loss.item()
    if i >= cfg["warmup"]:
        times.append((time.perf_counter() - start) * 1e3)
print(json.dumps({"ms_per_step": statistics.median(times), "ms_min": min(times), "torch": torch.__version__,
                  "threads": torch.get_num_threads()}))
"""


# OPENBLAS_CORETYPE candidates and the /proc/cpuinfo flags each needs (OpenBLAS's SkylakeX kernels
# use AVX-512 F, BW, DQ and VL; Haswell's AVX2 and FMA). None: OpenBLAS's own detection.
KERNELS = [("SkylakeX", ("avx512f", "avx512bw", "avx512dq", "avx512vl")), ("Haswell", ("avx2", "fma")),
           (None, ())]
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_info():
    model, model_no, flags = "unknown", "?", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown":
                    model = value.strip()
                elif key == "model" and model_no == "?":
                    model_no = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {"model": model, "model_number": model_no, "flags": [f for f in RELEVANT_FLAGS if f in flags],
            "all_flags": flags}


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def openblas_core(stderr):
    """The kernel OpenBLAS reports with OPENBLAS_VERBOSE=2 ("Core: SkylakeX"), else None."""
    cores = re.findall(r"^Core: (\S+)", stderr, re.M)
    return cores[-1] if cores else None


def torch_env(coretype, blas_threads):
    """The environment of one PyTorch process: OpenBLAS's variables set explicitly (coretype None:
    OpenBLAS detects the CPU itself; "inherit": as the caller's environment has it)."""
    env = dict(os.environ)
    if coretype != "inherit":
        env.pop("OPENBLAS_CORETYPE", None)
        if coretype:
            env["OPENBLAS_CORETYPE"] = coretype
    if blas_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = str(blas_threads)
    env["OPENBLAS_VERBOSE"] = "2"
    return env


def run_torch(cfg, torch_threads, coretype, blas_threads, steps=None, warmup=None, budget_s=None):
    c = dict(cfg, torch_threads=torch_threads)
    if steps is not None:
        c.update(steps=steps, warmup=warmup)
    if budget_s is not None:
        c.update(budget_s=budget_s)
    env = torch_env(coretype, blas_threads)
    proc = subprocess.run([sys.executable, "-c", TORCH_STEP, json.dumps(c)], env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        sys.exit(f"compare_pytorch: PyTorch failed (OPENBLAS_CORETYPE={coretype}):\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["openblas_core"] = openblas_core(proc.stderr) or "unknown"
    out["openblas_coretype"] = env.get("OPENBLAS_CORETYPE")
    out["openblas_num_threads"] = env.get("OPENBLAS_NUM_THREADS")
    out["openblas_l2_size"] = env.get("OPENBLAS_L2_SIZE")
    return out


def find_best(cfg, cpu, threads, probe_steps, rounds=2):
    """Times every OpenBLAS kernel the CPU allows (and then the two ways to give PyTorch the
    threads) briefly: `rounds` alternating rounds of probe_steps steps after 2 warm-up steps (at
    most about 10 s each), the fastest step of each candidate counting (the least disturbed by
    other processes). A kernel for wider vectors (SkylakeX before Haswell before OpenBLAS's own
    choice) within 10% of the fastest wins: closer than that, the probe cannot tell them apart.
    Returns the chosen setting and the probes."""
    flags = cpu["all_flags"]
    candidates = [(coretype, 1, threads) for coretype, needs in KERNELS if all(f in flags for f in needs)]

    def probe(cands):
        found = {c: dict(coretype=c[0], torch_threads=c[1], blas_threads=c[2], core=None, ms_per_step=[],
                         ms_min=float("inf")) for c in cands}
        for _ in range(rounds):
            for c in cands:
                r = run_torch(cfg, c[1], c[0], c[2], probe_steps, 2, budget_s=10)
                if c[0] and r["openblas_core"].lower() != c[0].lower():
                    print(f"  note: OPENBLAS_CORETYPE={c[0]} ran {r['openblas_core']}", file=sys.stderr)
                f = found[c]
                f["core"] = r["openblas_core"]
                f["ms_per_step"].append(r["ms_per_step"])
                f["ms_min"] = min(f["ms_min"], r["ms_min"])
        return [found[c] for c in cands]

    def choose(probes):
        fastest = min(p["ms_min"] for p in probes)
        return next(p for p in probes if p["ms_min"] <= 1.10 * fastest)  # probes are widest first

    probes = probe(candidates)
    best = choose(probes)
    if threads > 1:
        other = probe([(best["coretype"], threads, 1)])[0]
        probes.append(other)
        if other["ms_min"] < best["ms_min"] / 1.10:
            best = other
    return best, probes


def recur_info(recur, env):
    out = subprocess.run([recur, "info"], env=env, capture_output=True, text=True).stdout
    info = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("BLAS", "GEMM"):
            info[key.strip().lower()] = value.strip()
    m = re.search(r"DYNAMIC_ARCH(?: NO_AFFINITY)? (\S+)", info.get("blas", ""))
    info["openblas_core"] = m.group(1) if m else "unknown"
    return info


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p.add_argument("--recur", default=os.path.join(here, "build", "release", "examples", "recur"))
    p.add_argument("--mode", default="lstm")
    p.add_argument("--embedding", type=int, default=64, dest="input_size")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--bptt", type=int, default=64, dest="seq")
    p.add_argument("--vocab-size", type=int, default=65, dest="vocab")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--untimed-steps", type=int, default=3, dest="warmup")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1, help="run the rows N times, alternating; report medians")
    p.add_argument("--probe-steps", type=int, default=5, help="steps per candidate in the search for the best")
    p.add_argument("--coretype", default=None,
                   help="skip the search: PyTorch at its best uses this OPENBLAS_CORETYPE ('' = OpenBLAS's own)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    cfg = dict(mode=a.mode, input_size=a.input_size, hidden=a.hidden, layers=a.layers, batch=a.batch, seq=a.seq,
               vocab=a.vocab, steps=a.steps, warmup=a.warmup)
    cpu = cpu_info()
    load_before = load_average()
    if a.coretype is not None:
        best = dict(coretype=a.coretype or None, torch_threads=1, blas_threads=a.threads)
        probes = []
    else:
        best, probes = find_best(cfg, cpu, a.threads, a.probe_steps)
    recur_env = torch_env(best["coretype"], None)
    del recur_env["OPENBLAS_VERBOSE"]
    info = recur_info(a.recur, recur_env)
    cmd = [a.recur, "bench", "train-step", "--mode", a.mode, "--embedding", str(a.input_size), "--hidden",
           str(a.hidden), "--layers", str(a.layers), "--batch", str(a.batch), "--bptt", str(a.seq), "--vocab-size",
           str(a.vocab), "--steps", str(a.steps), "--untimed-steps", str(a.warmup), "--threads", str(a.threads), "--json",
           "--clip", "0"]  # the PyTorch step does not clip
    runs = {"recur": [], "pytorch_best": [], "pytorch_default": []}
    last = {}
    for _ in range(a.repeat):
        out = subprocess.run(cmd, env=recur_env, check=True, capture_output=True, text=True).stdout
        last["recur"] = json.loads(out.strip().splitlines()[-1])
        last["pytorch_best"] = run_torch(cfg, best["torch_threads"], best["coretype"], best["blas_threads"])
        last["pytorch_default"] = run_torch(cfg, a.threads, "inherit", None)
        for k in runs:
            runs[k].append(last[k]["ms_per_step"])
    load_after = load_average()
    med = {k: statistics.median(v) for k, v in runs.items()}
    tokens = a.batch * a.seq
    recur = last["recur"]
    recur.update(gemm_provider=info.get("gemm", recur.get("gemm")), openblas_core=info["openblas_core"],
                 openblas_coretype=recur_env.get("OPENBLAS_CORETYPE"))
    result = {"config": cfg, "threads": a.threads, "repeat": a.repeat,
              "cpu": {"model": cpu["model"], "model_number": cpu["model_number"], "flags": cpu["flags"]},
              "load_before": load_before, "load_after": load_after, "best": best, "probes": probes,
              "recur": recur, "pytorch_default": last["pytorch_default"], "pytorch_best": last["pytorch_best"],
              "runs_ms": runs, "median_ms": med,
              "speedup_vs_best": med["pytorch_best"] / med["recur"],
              "speedup_vs_default": med["pytorch_default"] / med["recur"]}
    if a.json:
        print(json.dumps(result))
        return
    print(f"CPU: {cpu['model']} (model {cpu['model_number']}), flags: {' '.join(cpu['flags']) or 'none of note'}")
    print(f"load average (1, 5, 15 min): {load_before} before, {load_after} after")
    if probes:
        print(f"search for PyTorch at its best (2 rounds of {a.probe_steps} steps per candidate):")
        for pr in probes:
            chosen = " <- best" if pr is best else ""
            print(f"  OPENBLAS_CORETYPE={pr['coretype'] or '(unset)':9s} torch threads {pr['torch_threads']}, "
                  f"OpenBLAS threads {pr['blas_threads']}: fastest step {pr['ms_min']:8.2f} ms, medians "
                  f"{', '.join(f'{v:.1f}' for v in pr['ms_per_step'])}  (Core: {pr['core']}){chosen}")
    print(f"train step: {a.mode} I={a.input_size} H={a.hidden} L={a.layers} B={a.batch} T={a.seq} V={a.vocab}, "
          f"float32, {a.threads} threads, median of {a.steps} steps"
          + (f", median of {a.repeat} runs" if a.repeat > 1 else ""))
    pb, pd = last["pytorch_best"], last["pytorch_default"]
    rows = [("recur", "recur", f"{recur['gemm_provider'].split(' ')[0]} GEMM, {recur['impl']} RNN; "
                                f"OpenBLAS kernel {recur['openblas_core']}"),
            ("pytorch best", "pytorch_best", f"set_num_threads({pb['threads']}), OPENBLAS_NUM_THREADS="
                                             f"{pb['openblas_num_threads']}, OPENBLAS_CORETYPE="
                                             f"{pb['openblas_coretype'] or '(unset)'}; OpenBLAS kernel "
                                             f"{pb['openblas_core']}"),
            ("pytorch default", "pytorch_default", f"set_num_threads({pd['threads']}), OpenBLAS as the environment "
                                                   f"leaves it; OpenBLAS kernel {pd['openblas_core']}")]
    for name, key, what in rows:
        ms = med[key]
        each = ", ".join(f"{v:.1f}" for v in runs[key]) if a.repeat > 1 else ""
        print(f"  {name:16s} {ms:8.2f} ms/step  {tokens / ms * 1e3:9.0f} tokens/s  [{what}]"
              + (f"  runs: {each}" if each else ""))
    print(f"  recur vs pytorch best:    {result['speedup_vs_best']:.2f}x")
    print(f"  recur vs pytorch default: {result['speedup_vs_default']:.2f}x")
    print(f"  recur: {recur['gflops']:.0f} GFLOP/s on the step's GEMMs (last run; {recur['gflop_per_step']:.2f} "
          f"GFLOP per step)")


if __name__ == "__main__":
    main()
