#!/usr/bin/env bash
# Downloads, on a Debian 12 machine with a package mirror, the .deb files of the libraries the
# GPU machine may lack (it may have no package registry): OpenBLAS (and its Fortran runtime),
# fmt, nlohmann-json, CLI11, GoogleTest/GoogleMock and Google Benchmark. They go into .deps/ in
# the repository root (git-ignored: copy the folder along with the source tree);
# scripts/gpu-check.sh unpacks them there into /tmp/deps (never into /) and builds against them.
#
#   scripts/gpu-deps.sh           download what is missing from .deps/ (safe to run again)
#   scripts/gpu-deps.sh --list    print the package names and exit
#   scripts/gpu-deps.sh --clean   empty .deps/ first
#
# Copy the repository with .deps/ beside it to the GPU machine (about 14 MiB more) and run
# `bash scripts/gpu-check.sh` there: one call builds, tests and benchmarks within 10 minutes.
# scripts/gpu-check.sh --help has the rest.
set -euo pipefail

packages=(
  libopenblas0-pthread libopenblas-pthread-dev libopenblas-dev libgfortran5 libquadmath0
  libfmt9 libfmt-dev
  nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev
  libbenchmark1debian libbenchmark-dev
)

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }

clean=0
for arg in "$@"; do
  case "$arg" in
    --list) printf '%s\n' "${packages[@]}"; exit 0 ;;
    --clean) clean=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "gpu-deps.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
command -v apt-get >/dev/null || { echo "gpu-deps.sh: apt-get not found: run this on the Debian machine" >&2; exit 1; }

# .deps/ must stay out of git.
if git rev-parse --git-dir >/dev/null 2>&1 && ! git check-ignore -q .deps/; then
  exclude=$(git rev-parse --git-path info/exclude)
  mkdir -p "$(dirname "$exclude")"
  echo "/.deps/" >>"$exclude"
  echo "gpu-deps.sh: added /.deps/ to $exclude"
fi

[ "$clean" -eq 1 ] && rm -rf .deps
mkdir -p .deps
cd .deps
missing=()
for package in "${packages[@]}"; do
  compgen -G "${package}_*.deb" >/dev/null || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "gpu-deps.sh: apt-get download ${missing[*]}"
  if ! apt-get download "${missing[@]}"; then
    echo "gpu-deps.sh: apt-get download failed; if the package lists are missing, run apt-get update first" >&2
    exit 1
  fi
fi

# Which source tree these were fetched for (gpu-check.sh reports it where git is missing).
{
  echo "fetched: $(date -u '+%F %T UTC')"
  echo "commit: $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
} >SOURCE
count=$(find . -maxdepth 1 -name '*.deb' | wc -l)
size=$(du -sm . | cut -f1)
echo "gpu-deps.sh: $count .deb files in $root/.deps ($size MiB); they must travel with the tree to the GPU machine"
if [ "$size" -gt 60 ]; then
  echo "gpu-deps.sh: warning: over 60 MiB" >&2
fi
