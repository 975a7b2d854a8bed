#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one after another,
# on the corpus kept in fuzz/corpus/<target>. New inputs that raise coverage
# are added to the corpus; a crash stops the script with its artifact in
# fuzz/artifacts/<target>/ (turn it into a regression test).
#
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# needs: cargo install cargo-fuzz (runs on the stable toolchain through
# RUSTC_BOOTSTRAP=1, as cargo fuzz needs -Z flags).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fields record policy)
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
for target in "${targets[@]}"; do
    echo "fuzz: $target for ${seconds}s"
    cargo fuzz run -O "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 2>&1 | tail -n 25
done
