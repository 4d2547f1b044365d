#!/usr/bin/env bash
# Checks that recur's static libraries link one way: given them bottom-up (core, backends,
# autograd, nn, optim),
#   1. no library uses a symbol that only a library above it defines, and
#   2. the first library (core) defines what its headers declare: no library above it defines a
#      member of a class or specialisation that a core/*.h header defines, nor a function that a
#      core/*.h header declares at namespace level (core reaches the layers above through the
#      hooks of core/tensor_hooks.h instead).
#   scripts/check_layers.sh librecur_core.a librecur_backends.a librecur_autograd.a ...
# Check 2 reads the headers of the core/ folder beside this script. It sees strong definitions
# only: an inline function or a template instantiation is a weak symbol that every user emits.
# Prints each offending symbol (demangled) and exits 1 when there is one.
set -euo pipefail
export LC_ALL=C
NM=${NM:-nm}
core_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../core" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
libs=("$@")
for i in "${!libs[@]}"; do
  "$NM" --defined-only "${libs[$i]}" 2>/dev/null | awk 'NF == 3 && $2 ~ /^[TWVDBRtu]$/ { print $3 }' | sort -u >"$tmp/def$i"
  "$NM" -u "${libs[$i]}" 2>/dev/null | awk '{ print $NF }' | sort -u >"$tmp/und$i"
  # Strong global definitions, demangled.
  "$NM" --defined-only "${libs[$i]}" 2>/dev/null | awk 'NF == 3 && $2 ~ /^[TDBR]$/ { print $3 }' | c++filt |
    sort -u >"$tmp/strong$i"
done
status=0
for i in "${!libs[@]}"; do
  for ((j = i + 1; j < ${#libs[@]}; ++j)); do
    upward=$(comm -12 "$tmp/und$i" "$tmp/def$j" | comm -23 - "$tmp/def$i")
    if [[ -n $upward ]]; then
      echo "$(basename "${libs[$i]}") uses symbols defined in $(basename "${libs[$j]}"), a layer above it:"
      echo "$upward" | c++filt | sed 's/^/  /'
      status=1
    fi
  done
done

# What core's headers own: the classes and specialisations they define (class Tensor {, template <>
# struct fmt::formatter<recur::Tensor> {) and the functions they declare at namespace level
# (Tensor zeros(...);), written from the first column as everywhere in recur.
classes=$(sed -nE 's/^(class|struct) ([A-Za-z_][A-Za-z0-9_]*)[^;]*$/recur::\2/p; s/^template <> struct ([^ ]+) .*\{.*$/\1/p' \
  "$core_dir"/*.h | sort -u)
functions=$(grep -hE '^[A-Za-z]' "$core_dir"/*.h |
  grep -vE '^(namespace|using|inline|constexpr|static|class|struct|enum|template <> |#|//|\})' |
  sed -nE 's/^[^(]*[^A-Za-z0-9_(]([A-Za-z_][A-Za-z0-9_]*)\(.*$/recur::\1/p' | sort -u)
owned=$(
  {
    echo "$classes" | sed -E 's/[][\.*^$]/\\&/g; s/^/^/; s/$/::/'
    echo "$functions" | sed -E 's/^/^/; s/$/[(<]/'
  } | paste -sd '|'
)
for ((j = 1; j < ${#libs[@]}; ++j)); do
  stolen=$(grep -E "$owned" "$tmp/strong$j" || true)
  if [[ -n $stolen ]]; then
    echo "$(basename "${libs[$j]}") defines what core's headers declare (core must define it):"
    echo "$stolen" | sed 's/^/  /'
    status=1
  fi
done
[[ $status == 0 ]] &&
  echo "${#libs[@]} libraries; each uses only symbols of its own or of the ones below, and core defines what it declares"
exit $status
