#!/usr/bin/env bash
# Checks that recur's static libraries link one way: given them bottom-up (core, backends,
# autograd, nn, optim), no library uses a symbol that only a library above it defines.
#   scripts/check_layers.sh librecur_core.a librecur_backends.a librecur_autograd.a ...
# Prints each upward reference (demangled) and exits 1 when there is one.
set -euo pipefail
export LC_ALL=C
NM=${NM:-nm}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
libs=("$@")
for i in "${!libs[@]}"; do
  "$NM" --defined-only "${libs[$i]}" 2>/dev/null | awk 'NF == 3 && $2 ~ /^[TWVDBRtu]$/ { print $3 }' | sort -u >"$tmp/def$i"
  "$NM" -u "${libs[$i]}" 2>/dev/null | awk '{ print $NF }' | sort -u >"$tmp/und$i"
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
[[ $status == 0 ]] && echo "${#libs[@]} libraries; each uses only symbols of its own or of the ones below"
exit $status
