#!/usr/bin/env bash
# Whole-binary benchmark: generates 1M- and 5M-row books, then times the
# floor (a plain csv crate read), `arrears run` writing CSV (2 threads and
# 1), writing Parquet, and reading the book as Parquet, and, when the
# python packages duckdb and polars are installed, the same computation as a
# DuckDB query and a Polars query (bench/peers/), checked first to give
# arrears' amounts on the sample book. Each command runs RUNS times (default
# 3); prints one table of the median runs: wall seconds, peak RSS, and
# ratios to the floor.
#
# usage: scripts/bench.sh [WORKDIR]     (default /tmp/arrears-bench)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/arrears-bench}
mkdir -p "$work"
cd "$repo"
cargo build --release --examples -q
arrears=$repo/target/release/arrears
floor=$repo/target/release/examples/csv_floor
as_of=2025-06-30

peers=()
if python3 -c 'import duckdb' 2>/dev/null; then peers+=(duckdb); fi
if python3 -c 'import polars' 2>/dev/null; then peers+=(polars); fi

# The peers must compute what arrears computes before they are timed.
"$arrears" run testdata/loanbook.csv --as-of $as_of -o "$work/check-arrears.csv" --rejects "$work/check.rejects.csv" -q >/dev/null
for peer in "${peers[@]}"; do
    python3 bench/peers/${peer}_arrears.py testdata/loanbook.csv $as_of "$work/check-$peer.csv" "$work/check-$peer-summary.csv"
    python3 bench/peers/check.py "$work/check-arrears.csv" "$work/check-$peer.csv"
done

# measure NAME COMMAND...: runs COMMAND $runs times, each time into an
# empty $work/out (so that no run pays for deleting the previous run's
# files: replacing a 180 MB file costs the filesystem ~0.4 s), and prints
# "NAME seconds kilobytes" of the median run by time.
runs=${RUNS:-3}
measure() {
    local name=$1
    shift
    rm -f "$work"/time-*.txt
    for i in $(seq "$runs"); do
        rm -rf "$work/out"
        mkdir -p "$work/out"
        # Nor for writing back the previous run's output to disk.
        sync
        /usr/bin/time -f "%e %M" -o "$work/time-$i.txt" "$@" >/dev/null
    done
    echo "$name $(cat "$work"/time-*.txt | sort -n | sed -n "$(((runs + 1) / 2))p")"
}

printf '%-8s %-10s %8s %9s %9s %11s\n' rows command seconds "peak MB" "x floor" "x arrears"
for rows in 1000000 5000000; do
    book=$work/book-$rows.csv
    [ -f "$book" ] || "$arrears" generate --rows $rows --seed 1 -o "$book"
    read -r _ floor_s floor_kb < <(measure floor "$floor" "$book")
    results=()
    results+=("$(measure arrears "$arrears" run "$book" --as-of $as_of -o "$work/out/results.csv" --summary "$work/out/summary.csv" -q)")
    cp "$work/out/results.csv" "$work/results.csv"
    results+=("$(measure arrears-1t "$arrears" run "$book" --as-of $as_of -o "$work/out/results.csv" --summary "$work/out/summary.csv" -q --threads 1)")
    # With the generated payments (about 0.94 a row; issue 12's target:
    # under 2x the time without them, under 300 MB).
    payments=$work/payments-$rows.csv
    [ -f "$payments" ] || "$arrears" generate --rows $rows --seed 1 -o "$work/book-again.csv" --repayments "$payments"
    results+=("$(measure payments "$arrears" run "$book" --repayments "$payments" --as-of $as_of -o "$work/out/results.csv" --summary "$work/out/summary.csv" -q)")
    # Results and summary written as Parquet.
    results+=("$(measure pq-out "$arrears" run "$book" --as-of $as_of -o "$work/out/results.parquet" --summary "$work/out/summary.parquet" -q)")
    # The same book read as Parquet (all columns text, written by polars).
    if [[ " ${peers[*]} " == *" polars "* ]]; then
        [ -f "$book.parquet" ] || python3 -c 'import sys, polars as pl; pl.read_csv(sys.argv[1], infer_schema=False).write_parquet(sys.argv[2])' "$book" "$book.parquet"
        results+=("$(measure pq-in "$arrears" run "$book.parquet" --as-of $as_of -o "$work/out/results.csv" --summary "$work/out/summary.csv" -q)")
        cmp -s "$work/out/results.csv" "$work/results.csv" || { echo "Parquet input gave other results" >&2; exit 1; }
    fi
    # Night over night (issue 14): the book and its next night, valued a
    # month apart, compared with every output of `movement`.
    next=$work/book-$rows-next.csv
    [ -f "$next" ] || "$arrears" generate --rows $rows --seed 1 -o "$work/book-$rows-again.csv" --next-night "$next"
    "$arrears" run "$book" --as-of $as_of -o "$work/night1.csv" -q >/dev/null
    "$arrears" run "$next" --as-of 2025-07-30 -o "$work/night2.csv" -q >/dev/null
    results+=("$(measure movement "$arrears" movement "$work/night1.csv" "$work/night2.csv" -o "$work/out/moves.csv" --summary "$work/out/matrix.csv" --provisions "$work/out/provisions.csv" --journal "$work/out/journal.csv" -q)")
    for peer in "${peers[@]}"; do
        results+=("$(measure "$peer" python3 bench/peers/${peer}_arrears.py "$book" $as_of "$work/out/$peer.csv" "$work/out/$peer-summary.csv")")
    done
    # "x arrears": each command's time over arrears' (2 threads, CSV out).
    read -r _ arrears_s _ <<<"${results[0]}"
    printf '%-8s %-10s %8.2f %9.0f %9s %11.2f\n' $rows floor "$floor_s" $((floor_kb / 1024)) 1.0 "$(echo "$floor_s / $arrears_s" | bc -l)"
    for line in "${results[@]}"; do
        read -r name s kb <<<"$line"
        printf '%-8s %-10s %8.2f %9.0f %9.1f %11.2f\n' $rows "$name" "$s" $((kb / 1024)) "$(echo "$s / $floor_s" | bc -l)" "$(echo "$s / $arrears_s" | bc -l)"
    done
done
