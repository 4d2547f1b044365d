#!/bin/bash
# What each of AWD-LSTM's parts costs in `recur train`'s step on the CPU:
#   bench/run_awd_costs.sh [BUILD_DIR] [ROUNDS]
# runs `recur --threads THREADS bench train-step --json` (THREADS, default 2; the step of `recur
# train`, on the reference model: LSTM E=64 H=256 L=2 B=32 T=64) with none of the parts, then with each part alone, then
# with all of them, one after the other, ROUNDS times (default: build/release, 5 rounds), so that a
# machine whose load changes slows every configuration alike; once for a character-level
# vocabulary (65 symbols, the default) and once for a word-level one (--vocab-size 10000). It
# prints every run's median ms/step, the median over the rounds, and the part's cost: the median
# over the rounds of (ms with the part / ms of its reference - 1), once from the runs' median
# steps and once from their fastest steps (the fastest step of a run is the one that no other
# activity on the machine slowed: on a shared 2-core guest the medians of identical runs differ by
# 20-40%, the fastest steps by a few percent). The reference is the step with
# none of the parts; for --tie-weights, which needs --embedding equal to --hidden, and for all the
# parts together, the step with none of them at --embedding 256. NT-ASGD runs with
# --ntasgd-averaging: SGD steps that average the weights, as after its trigger. Its reference uses
# Adam (`recur train`'s default optimizer). STEPS (default 20) sets the timed steps of each run;
# OMP_WAIT_POLICY and RECUR_GEMM are passed on as set.
set -euo pipefail
build=${1:-build/release}
rounds=${2:-5}
steps=${STEPS:-20}
threads=${THREADS:-2}
recur=$build/examples/recur
[ -x "$recur" ] || { echo "error: $recur is not built (cmake --build $build --target recur_cli)" >&2; exit 1; }

all="--dropout-e 0.1 --dropout-i 0.4 --dropout-h 0.3 --wdrop 0.5 --dropout-o 0.4 --ar 2 --tar 1"
all+=" --tie-weights --embedding 256 --optimizer ntasgd --ntasgd-averaging"
# name|reference name|options
configs=(
  "none||"
  "none E=256||--embedding 256"
  "--dropout-e 0.1|none|--dropout-e 0.1"
  "--dropout-i 0.4|none|--dropout-i 0.4"
  "--dropout-h 0.3|none|--dropout-h 0.3"
  "--wdrop 0.5|none|--wdrop 0.5"
  "--dropout-o 0.4|none|--dropout-o 0.4"
  "--ar 2|none|--ar 2"
  "--tar 1|none|--tar 1"
  "--tie-weights E=256|none E=256|--tie-weights --embedding 256"
  "--optimizer ntasgd|none|--optimizer ntasgd --ntasgd-averaging"
  "all together E=256|none E=256|$all"
)

"$recur" info | grep -E '^(CPU ISA|threads|GEMM)' || true
grep -m1 'model name' /proc/cpuinfo || true
uptime
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for vocab in 65 10000; do
  for ((round = 0; round < rounds; ++round)); do
    for config in "${configs[@]}"; do
      IFS='|' read -r name reference options <<<"$config"
      # shellcheck disable=SC2086  # the options are words
      ms=$("$recur" --threads "$threads" bench train-step --vocab-size "$vocab" --steps "$steps" $options --json |
        python3 -c 'import json, sys; r = json.load(sys.stdin); print(r["ms_per_step"], r["ms_min"], sep="\t")')
      printf '%s\t%s\t%s\t%s\t%s\n' "$vocab" "$round" "$name" "$reference" "$ms" >>"$results"
      echo "V=$vocab, round $((round + 1)) of $rounds: $name: median and fastest ms/step ${ms/$'\t'/ }" >&2
    done
  done
done
uptime
python3 - "$results" "$threads" <<'EOF'
import collections, statistics, sys
threads = sys.argv[2]
runs = collections.defaultdict(dict)  # (vocab, name) -> round -> (median ms, fastest ms)
references, order = {}, []
for line in open(sys.argv[1]):
    vocab, rnd, name, reference, ms, fastest = line.rstrip("\n").split("\t")
    runs[(vocab, name)][rnd] = (float(ms), float(fastest))
    references[name] = reference
    if name not in order:
        order.append(name)
print(f"\nrecur bench train-step --threads {threads} (LSTM E=64 H=256 L=2 B=32 T=64): each run's median and fastest ms/step;")
print("cost: the median over the rounds of (ms / the reference's ms - 1), from the medians and from the fastest steps\n")
print("| V | part | median ms/step of each round | fastest ms/step of each round | reference | cost (medians) | cost (fastest) |")
print("|---|---|---|---|---|---:|---:|")
for vocab in sorted({v for v, _ in runs}, key=int):
    for name in order:
        times = runs[(vocab, name)]
        rounds = sorted(times, key=int)
        cells = [" ".join(f"{times[r][i]:.1f}" for r in rounds) for i in (0, 1)]
        reference = references[name]
        costs = ["-", "-"]
        if reference:
            for i in (0, 1):
                ratios = [times[r][i] / runs[(vocab, reference)][r][i] - 1 for r in rounds]
                costs[i] = f"{100 * statistics.median(ratios):+.1f}%"
        print(f"| {vocab} | {name} | {cells[0]} | {cells[1]} | {reference or '-'} | {costs[0]} | {costs[1]} |")
EOF
