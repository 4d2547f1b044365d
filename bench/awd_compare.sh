#!/usr/bin/env bash
# Word-level Tiny Shakespeare: the plain recipe (LSTM, dropout, Adam) against the AWD-LSTM recipe
# (Merity et al. 2017: tied weights, its five dropouts, AR and TAR, random BPTT lengths; Adam),
# the same minutes of training each on 2 threads, one after the other:
#
#   bench/awd_compare.sh [--minutes M] [--out DIR] [--recur PATH] [--data FILE]
#
# M: training minutes per recipe (default 20; evaluations are not counted); DIR: where the two run
# folders, the logs and the plot go (default runs/awd-compare-<timestamp>); PATH: the recur program
# (default build/release/examples/recur); FILE: the text (default ../shared/data/tinyshakespeare.txt
# beside the repository; its last 10% is the validation text). Writes DIR/plain/ and DIR/awd/ (run
# folders), DIR/validation_perplexity.svg (both validation-perplexity curves, against training
# minutes and against tokens, drawn by `recur plot`), and prints each run's final and best
# validation perplexity, steps, tokens, and the AWD recipe's relative improvement,
# 1 - perplexity_awd / perplexity_plain. docs/TRAINING.md, "Word-level Tiny Shakespeare: plain
# against AWD-LSTM", says why these recipes.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"

minutes=20
out="runs/awd-compare-$(date +%Y%m%d-%H%M%S)"
recur="$root/build/release/examples/recur"
data="$root/../shared/data/tinyshakespeare.txt"
usage() { sed -n '6p' "${BASH_SOURCE[0]}" | sed 's/^#   /usage: /' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="${2:?}"; shift 2 ;;
    --out) out="${2:?}"; shift 2 ;;
    --recur) recur="${2:?}"; shift 2 ;;
    --data) data="${2:?}"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "error: unknown argument '$1'" >&2; usage ;;
  esac
done
[ -x "$recur" ] || { echo "error: '$recur' is not an executable (build it: cmake --build build/release --target recur_cli)" >&2; exit 1; }
[ -f "$data" ] || { echo "error: data file '$data' not found" >&2; exit 1; }
if [ -e "$out/plain" ] || [ -e "$out/awd" ]; then
  echo "error: '$out' already holds a run; give another --out" >&2
  exit 1
fi
mkdir -p "$out"

# 15 to 30 evaluations per run, whatever M: the steps per minute each recipe made on 2 threads of a
# shared, loaded 2-core Xeon (plain 170, AWD 60 to 120) times M / 15; an idle one makes about
# twice as many (plain 370, AWD 130 steps per minute).
every() { awk -v rate="$1" -v m="$minutes" 'BEGIN { n = int(rate * m / 15); print (n < 5 ? 5 : n) }'; }

# Both recipes read the same words: the vocabulary options are shared.
vocab=(--vocab words --min-count 2)

# The plain recipe: a 2-layer LSTM with ordinary dropout between the layers and before the head,
# untied, Adam with a cosine decay over the run.
plain=(--mode lstm --layers 2 --embedding 256 --hidden 256 --dropout 0.5
  --optimizer adam --lr 3e-3 --lr-schedule cosine --clip 1
  --batch 32 --bptt 35 --eval-bptt 35 --eval-every "$(every 170)")

# The AWD-LSTM recipe, scaled down: 3 layers with a projection to the tied embedding size, the
# paper's five dropouts (with its Penn Treebank values of --dropout-i and --dropout-h), AR and TAR,
# its weight decay, B = 20 streams and random BPTT lengths around 70. The optimizer is Adam with a
# cosine decay, not NT-ASGD: in 2-minute trials SGD at the paper's lr 30 diverged and at lr 10 stayed
# at perplexity 510, far from the few epochs a 20-minute budget allows (docs/TRAINING.md).
awd=(--mode lstm --layers 3 --embedding 256 --hidden 512 --proj 256 --tie-weights
  --dropout-e 0.1 --dropout-i 0.4 --dropout-h 0.25 --wdrop 0.5 --dropout-o 0.4 --ar 2 --tar 1
  --optimizer adam --lr 3e-3 --lr-schedule cosine --clip 1 --weight-decay 1.2e-6
  --batch 20 --bptt 70 --bptt-jitter --eval-bptt 70 --eval-every "$(every 90)")

train() {  # NAME RECIPE...: one run of M minutes on 2 threads, its progress in DIR/NAME.log
  local name=$1
  shift
  echo "== $name: $minutes minutes of training on 2 threads ($out/$name, log $out/$name.log)"
  OMP_WAIT_POLICY=passive "$recur" --threads 2 train --data "$data" "${vocab[@]}" "$@" --minutes "$minutes" \
    --progress plain --out "$out/$name" 2>"$out/$name.log" >"$out/$name.result"
  head -1 "$out/$name.result"
}
train plain "${plain[@]}"
train awd "${awd[@]}"

echo
"$recur" plot "$out/plain" "$out/awd" --name "plain LSTM" --name "AWD-LSTM" \
  --x minutes,tokens --y perplexity --title "Word-level Tiny Shakespeare, validation perplexity" \
  --out "$out/validation_perplexity.svg"

# The relative improvement, from the validation losses of metrics.csv (column 7, nats per word).
python3 - "$out/plain/metrics.csv" "$out/awd/metrics.csv" <<'EOF'
import csv, math, sys
def losses(path):
    with open(path) as f:
        return [float(row["val_loss"]) for row in csv.DictReader(f) if row["val_loss"]]
plain, awd = losses(sys.argv[1]), losses(sys.argv[2])
for what, p, a in (("final", plain[-1], awd[-1]), ("best", min(plain), min(awd))):
    p, a = math.exp(p), math.exp(a)
    print(f"{what} validation perplexity: plain {p:.2f}, AWD {a:.2f}: 1 - AWD / plain = {100 * (1 - a / p):.1f}%")
EOF
