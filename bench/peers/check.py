#!/usr/bin/env python3
"""Checks that a peer's per-loan amounts equal arrears' results, loan by
loan, before the peer is timed.

usage: check.py ARREARS_RESULTS.csv PEER_RESULTS.csv
"""
import csv
import sys

COLUMNS = ["penalty", "compound", "fees", "total_raw", "total_capped", "excess", "status", "bucket", "provision"]

def rows(path):
    with open(path, newline="") as f:
        return {r["loan_id"]: r for r in csv.DictReader(f)}

def main():
    ours, theirs = rows(sys.argv[1]), rows(sys.argv[2])
    if ours.keys() != theirs.keys():
        sys.exit(f"loan ids differ: {len(ours)} vs {len(theirs)}")
    bad = [(i, c, ours[i][c], theirs[i][c]) for i in ours for c in COLUMNS if ours[i][c] != theirs[i][c]]
    for b in bad[:10]:
        print("differs:", *b)
    if bad:
        sys.exit(f"{len(bad)} values differ")
    print(f"{sys.argv[2]}: {len(ours)} loans, every amount equal")

if __name__ == "__main__":
    main()
