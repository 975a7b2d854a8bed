#!/usr/bin/env python3
"""Self-test of the reference implementation (arrears_ref.py) on small books
whose figures are computed by hand below, in the comments beside each check.

    python3 tests/reference/selftest.py            # check
    python3 tests/reference/selftest.py --update   # rewrite the expected files

Each folder of tests/reference/examples/ holds the inputs and the expected
outputs (written by the reference and checked here by hand), which the Rust
side can use as expected files too:

  repay_basic/      default policy (cn-bank); repayments: partial, settling,
                    overpaying, before the due date, after as_of, after a
                    paid_date; same-date payments added; an unreadable
                    payment (rejects its book row); an unmatched payment; a
                    duplicate book loan_id
  repay_grace/      skip_grace 5 days, count_both_ends, rounding down, a
                    principal-first allocation, a cap limit with a fraction
                    of a cent (rounded down), payments on the accrual start
  repay_charge_all/ charge_all with 3 grace days, half_even at an exact half
                    cent, a payment inside the grace period, compound on the
                    unpaid interest still due; the payments file has Chinese
                    headers mapped by [repayment_columns], CRLF lines, a
                    padded loan_id and other date formats
  movement/         two nights of one book (section 6): rolled forward,
                    cured, settled, closed, new, newly written off, written
                    off both nights, recovered, written off then closed, a
                    currency change; by bucket, classification and status;
                    both accounting methods

Without --update the outputs are written to a temporary folder and compared
byte for byte with the expected files, then the hand-computed figures are
checked. Exit status 0 when everything agrees.
"""
import csv
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "arrears_ref.py")
EX = os.path.join(HERE, "examples")
failures = []


def run(args, cwd):
    r = subprocess.run([sys.executable, REF] + args, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        failures.append(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")


def rows(path, key="loan_id"):
    with open(path, newline="") as f:
        return {tuple(r[k] for k in key.split(",")) if "," in key else r[key]: r for r in csv.DictReader(f)}


def check(table, key, column, expected, what=""):
    got = table.get(key, {}).get(column) if key in table else None
    if got != expected:
        failures.append(f"{what} {key} {column}: expected {expected!r}, got {got!r}")


def check_row(table, key, expected, what=""):
    for column, value in expected.items():
        check(table, key, column, value, what)


# ---------------------------------------------------------------------------
# Commands: (example folder, outputs it writes, arguments)
REPAY = ["book.csv", "--as-of", "2025-06-30", "--policy", "policy.toml", "--group-by", "currency",
         "-o", "results.csv", "--summary", "summary.csv", "--repayments", "payments.csv",
         "--unmatched", "unmatched.csv"]
MOVE = ["movement", "previous.csv", "current.csv", "--as-of", "2025-06-30"]
COMMANDS = [
    ("repay_basic", REPAY),
    ("repay_grace", REPAY),
    ("repay_charge_all", REPAY),
    ("movement", ["night1.csv", "--as-of", "2025-05-31", "-o", "previous.csv", "--summary",
                  "previous.summary.csv"]),
    ("movement", ["night2.csv", "--as-of", "2025-06-30", "-o", "current.csv", "--summary",
                  "current.summary.csv"]),
] + [
    ("movement", MOVE + ["--by", by, "-o", f"moves.{by}.csv", "--summary", f"matrix.{by}.csv",
                         "--provisions", f"provisions.{by}.csv", "--journal", f"journal.{by}.csv"])
    for by in ("bucket", "classification", "status")
] + [
    ("movement", MOVE + ["--policy", "direct.toml", "--provisions", "provisions.direct.csv",
                         "--journal", "journal.direct.csv"]),
]
INPUTS = {"book.csv", "payments.csv", "policy.toml", "night1.csv", "night2.csv", "direct.toml"}


def outputs_of(args):
    outs = []
    for flag in ("-o", "--summary", "--unmatched", "--provisions", "--journal"):
        if flag in args:
            outs.append(args[args.index(flag) + 1])
    return outs


def regenerate(root):
    for folder, args in COMMANDS:
        run(args, os.path.join(root, folder))


def main():
    update = "--update" in sys.argv[1:]
    if update:
        regenerate(EX)
        print("expected files rewritten" if not failures else "\n".join(failures))
        return 1 if failures else 0
    tmp = tempfile.mkdtemp(prefix="arrears-ref-selftest-")
    try:
        for folder in sorted({f for f, _ in COMMANDS}):
            os.makedirs(os.path.join(tmp, folder))
            for name in os.listdir(os.path.join(EX, folder)):
                if name in INPUTS:
                    shutil.copy(os.path.join(EX, folder, name), os.path.join(tmp, folder, name))
        regenerate(tmp)
        for folder, args in COMMANDS:
            for out in outputs_of(args):
                a, b = os.path.join(EX, folder, out), os.path.join(tmp, folder, out)
                if not os.path.exists(a):
                    failures.append(f"{folder}/{out}: no expected file (run with --update)")
                elif not filecmp.cmp(a, b, shallow=False):
                    failures.append(f"{folder}/{out}: differs from the expected file")
        hand_checks(tmp)
    finally:
        shutil.rmtree(tmp)
    if failures:
        print("\n".join(failures))
        print(f"{len(failures)} failure(s)")
        return 1
    print("selftest: all figures agree")
    return 0


def hand_checks(root):
    # -----------------------------------------------------------------------
    # repay_basic: default cn-bank policy (penalty on, compound on, contract
    # interest off, grace 0, caps annual-24 and annual-36 on 365-day years).
    # Every row: daily_rate 0.0005, penalty_rate 0.001 a day. as_of 2025-06-30.
    r = rows(os.path.join(root, "repay_basic", "results.csv"))
    w = "repay_basic"
    # Accepted rows: R1..R5 (first R5 only). R6 is a reject: its payment on
    # line 10 (amount -5) cannot be read. The second R5 is a duplicate: reject.
    if sorted(r) != ["R1", "R2", "R3", "R4", "R5"]:
        failures.append(f"{w}: accepted rows {sorted(r)}")
    check(r, "R5", "principal", "1000.00", w)
    # R1: P 10000, U 500, fees 50, due 06-01; pays 1000 on 06-11.
    #  At 06-11: 10 days on P 10000 / U 500: penalty 10000 x 0.001 x 10 = 100.00,
    #  compound 500 x 0.001 x 10 = 5.00, fees 50. Pays fees 50, penalty 100,
    #  compound 5, interest 0, unpaid interest 500, principal 345 (left 9655).
    #  At end 06-30 (29 days): principal-days 10000 x 10 + 9655 x 19 = 283445;
    #  penalty 283.445 -> 283.45; compound 500 x 10 x 0.001 = 5.00 (U due 0
    #  after 06-11); total_raw 283.45 + 5 + 50 = 338.45.
    #  annual-24 limit 283445 x 0.24 / 365 = 186.3747... -> 186.37 (down);
    #  over 152.08: fees 50 -> 0, compound 5 -> 0, penalty -97.08 -> 186.37.
    #  annual-36 limit 283445 x 0.36 / 365 = 279.5621... -> 279.56: breached
    #  (338.45 raw) but cuts nothing. excess 152.08.
    #  annualized 338.45 x 365 / 283445 = 123534.25 / 283445 = 0.4358314...
    #  outstanding 10000 - 345 = 9655; special_mention 2%: 193.10.
    #  balance_due 9655 + 0 + (186.37 - 155.00) = 9686.37.
    check_row(r, "R1", dict(outstanding="9655.00", end_date="2025-06-30", days_overdue="29",
                            chargeable_days="29", penalty="283.45", compound="5.00", fees="50.00",
                            total_raw="338.45", total_capped="186.37", excess="152.08",
                            breaches="annual-24;annual-36", binding_cap="annual-24",
                            annualized_rate="0.435831", status="overdue", classification="special_mention",
                            provision="193.10", repaid="1000.00", repaid_principal="345.00",
                            repaid_unpaid_interest="500.00", repaid_charges="155.00",
                            principal_due="9655.00", balance_due="9686.37", collected_over_cap="0.00",
                            overpaid="0.00"), w)
    # R2: P 1000; 1500 + 500 on 06-21 (added: 2000), 100 on 06-25.
    #  At 06-21: 20 days, penalty 1000 x 0.001 x 20 = 20.00. Pays 20, principal
    #  1000, 980 over: every due 0, settled on 06-21 (end). 06-25: 100 overpaid.
    #  annual-24: 20000 x 0.24 / 365 = 13.1506 -> 13.15; annual-36: 19.7260
    #  -> 19.72, both breached. collected_over_cap 20.00 - 13.15 = 6.85.
    #  annualized 20 x 365 / 20000 = 0.365. Settled: no class, provision 0.
    check_row(r, "R2", dict(outstanding="0.00", end_date="2025-06-21", days_overdue="20", penalty="20.00",
                            total_raw="20.00", total_capped="13.15", excess="6.85",
                            breaches="annual-24;annual-36", annualized_rate="0.365000", status="settled_late",
                            classification="", provision="0.00", repaid="2100.00",
                            repaid_principal="1000.00", repaid_charges="20.00", principal_due="0.00",
                            balance_due="0.00", collected_over_cap="6.85", overpaid="1080.00"), w)
    # R3: P 2000, U 100, fees 30, due 06-20; 600 on 06-10 (before the due
    #  date: nothing charged, pays U 100 and principal 500); 999 on 07-05
    #  (after as_of: ignored, not in repaid).
    #  End 06-30: 10 days on P 1500, U 0: penalty 15.00, fees 30, raw 45.00.
    #  annual-24: 15000 x 0.24 / 365 = 9.8630 -> 9.86: fees 30 -> 0, penalty
    #  15 -> 9.86. annual-36 14.79 breached. annualized 45 x 365 / 15000 = 1.095.
    #  outstanding 2000 - 500 = 1500, provision 30.00; balance_due 1500 + 9.86.
    check_row(r, "R3", dict(outstanding="1500.00", days_overdue="10", penalty="15.00", compound="0.00",
                            fees="30.00", total_raw="45.00", total_capped="9.86", excess="35.14",
                            annualized_rate="1.095000", provision="30.00", repaid="600.00",
                            repaid_principal="500.00", repaid_unpaid_interest="100.00",
                            repaid_charges="0.00", principal_due="1500.00", balance_due="1509.86"), w)
    # R4: P 1000, paid_date 06-11 (end); 300 on 06-20, after end: pays the
    #  dues at end: penalty 1000 x 0.001 x 10 = 10.00, then principal 290.
    #  annual-24 2400/365 = 6.575 -> 6.57; collected_over_cap 10 - 6.57 = 3.43.
    #  outstanding 1000 - 290 = 710; balance_due 0 (settled by paid_date).
    check_row(r, "R4", dict(outstanding="710.00", end_date="2025-06-11", days_overdue="10", penalty="10.00",
                            total_capped="6.57", status="settled_late", provision="0.00", repaid="300.00",
                            repaid_principal="290.00", repaid_charges="10.00", principal_due="710.00",
                            balance_due="0.00", collected_over_cap="3.43", overpaid="0.00"), w)
    # R5: no payments: section 2. 29 days: penalty 29.00; annual-24 6960/365 =
    #  19.0684 -> 19.06 (the limit rounds down; half-up would give 19.07).
    #  balance_due 1000 + 19.06.
    check_row(r, "R5", dict(outstanding="1000.00", penalty="29.00", total_capped="19.06", excess="9.94",
                            provision="20.00", repaid="0.00", principal_due="1000.00",
                            balance_due="1019.06"), w)
    s = rows(os.path.join(root, "repay_basic", "summary.csv"), "currency")
    # Sums: repaid 1000 + 2100 + 600 + 300 + 0 = 4000; principal repaid
    # 345 + 1000 + 500 + 290 = 2135; outstanding 9655 + 0 + 1500 + 710 + 1000.
    check_row(s, "CNY", dict(loans="5", outstanding="12865.00", repaid="4000.00", repaid_principal="2135.00",
                             repaid_unpaid_interest="600.00", repaid_charges="185.00", overpaid="1080.00",
                             collected_over_cap="10.28", balance_due="12215.29"), w)
    u = rows(os.path.join(root, "repay_basic", "unmatched.csv"), "file,line")
    check(u, ("payments.csv", "9"), "reason", "its book row was rejected", w)
    check(u, ("payments.csv", "11"), "reason", "no such loan_id", w)
    check(u, ("payments.csv", "11"), "amount", "70.00", w)
    if len(u) != 2:
        failures.append(f"{w}: {len(u)} unmatched payments, expected 2")

    # -----------------------------------------------------------------------
    # repay_grace: skip_grace, grace 5, count_both_ends, rounding down,
    # allocation principal first, contract interest 0.0005 and penalty
    # 0.00071 a day, no compound, one cap `daily` 0.00081 x principal-days.
    # Due 06-01, so the accrual start is 06-06. as_of 06-30.
    r = rows(os.path.join(root, "repay_grace", "results.csv"))
    w = "repay_grace"
    # G1: P 1000, fees 20. 100 on 06-06 (= the accrual start): days_overdue
    #  there 5 + 1 = 6 > 5 so fees 20 are due, no day charged yet; principal
    #  first: 100 to principal (900 left). 50 on 06-16: segment 06-06..06-16
    #  10 + 1 = 11 days on 900 (interest 4.95, penalty 7.029 -> 7.02): pays
    #  principal 50 (850 left).
    #  End 06-30: days_overdue 29 + 1 = 30, chargeable 25 = 11 + 14;
    #  principal-days 900 x 11 + 850 x 14 = 9900 + 11900 = 21800.
    #  interest 21800 x 0.0005 = 10.90; penalty 21800 x 0.00071 = 15.478 ->
    #  15.47 (down); fees 20; raw 46.37. Limit 21800 x 0.00081 = 17.658 ->
    #  17.65 (down); over 28.72: fees 20 -> 0, penalty 15.47 - 8.72 = 6.75.
    #  annualized 46.37 x 365 / 21800 = 0.77637844 -> 0.776378.
    #  outstanding 850, provision 2% 17.00; balance_due 850 + 17.65 - 0.
    check_row(r, "G1", dict(outstanding="850.00", days_overdue="30", chargeable_days="25", interest="10.90",
                            penalty="15.47", fees="20.00", total_raw="46.37", total_capped="17.65",
                            excess="28.72", breaches="daily", binding_cap="daily", annualized_rate="0.776378",
                            status="overdue", provision="17.00", repaid="150.00", repaid_principal="150.00",
                            repaid_charges="0.00", balance_due="867.65"), w)
    # G2: 1000 on 06-04, inside the grace (days_overdue 3 + 1 = 4 <= 5): no
    #  fees, pays the principal: settled on 06-04, status grace, all 0.
    check_row(r, "G2", dict(outstanding="0.00", end_date="2025-06-04", days_overdue="4", chargeable_days="0",
                            fees="0.00", total_raw="0.00", annualized_rate="", status="grace",
                            classification="", repaid_principal="1000.00", balance_due="0.00",
                            overpaid="0.00"), w)
    # G3: 1020 on 06-06 (the accrual start): fees 20 due, pays principal 1000
    #  and fees 20: settled on 06-06. At end 06-06: days_overdue 6, 1
    #  chargeable day (the first segment's extra day) on principal 0:
    #  interest 0, penalty 0, fees 20; principal-days 0 so the cap's limit is
    #  0.00: breached, capped 0, excess 20, collected_over_cap 20;
    #  annualized empty (principal-days 0).
    check_row(r, "G3", dict(end_date="2025-06-06", days_overdue="6", chargeable_days="1", interest="0.00",
                            penalty="0.00", fees="20.00", total_raw="20.00", total_capped="0.00",
                            excess="20.00", breaches="daily", annualized_rate="", status="settled_late",
                            repaid="1020.00", repaid_charges="20.00", collected_over_cap="20.00",
                            balance_due="0.00"), w)

    # -----------------------------------------------------------------------
    # repay_charge_all: charge_all, grace 3, half_even, no caps; penalty
    # 1.5 x 0.0005 = 0.00075 a day; compound on. Due 06-01, as_of 06-30.
    r = rows(os.path.join(root, "repay_charge_all", "results.csv"))
    w = "repay_charge_all"
    # C1: P 1000, fees 10; 100 on 06-03 (days_overdue 2 <= 3: nothing due,
    #  no fees): principal 100. End: 29 days > 3, charged back to 06-01:
    #  principal-days 1000 x 2 + 900 x 27 = 26300; penalty 26300 x 0.00075 =
    #  19.725 -> 19.72 (half_even); raw 29.72; annualized 29.72 x 365 / 26300
    #  = 0.4124638 -> 0.412464. provision 2% of 900 = 18.00.
    check_row(r, "C1", dict(outstanding="900.00", penalty="19.72", fees="10.00", total_raw="29.72",
                            total_capped="29.72", annualized_rate="0.412464", provision="18.00",
                            repaid_principal="100.00", repaid_charges="0.00", balance_due="929.72"), w)
    # C2: P 1000, U 200; 50 on 06-11: 10 days: penalty 7.50, compound 200 x
    #  0.00075 x 10 = 1.50; pays them (9.00) and 41 of U (159 left).
    #  End: penalty 1000 x 29 x 0.00075 = 21.75; compound (200 x 10 + 159 x
    #  19) x 0.00075 = 5021 x 0.00075 = 3.76575 -> 3.77; raw 25.52;
    #  balance_due 1000 + 159 + (25.52 - 9.00) = 1175.52; annualized 25.52 x
    #  365 / 29000 = 0.3212.
    check_row(r, "C2", dict(outstanding="1000.00", penalty="21.75", compound="3.77", total_raw="25.52",
                            annualized_rate="0.321200", repaid="50.00", repaid_unpaid_interest="41.00",
                            repaid_charges="9.00", principal_due="1000.00", balance_due="1175.52"), w)

    # -----------------------------------------------------------------------
    # movement: default policy, every loan P 1000 (outstanding 1000).
    # night1 as_of 2025-05-31, night2 as_of 2025-06-30.
    #  M1  due 05-20: 11 days 1-30 (prov 20) -> 41 days 31-60 (20): rolled forward
    #  M2  due 05-20: 1-30 (20) -> paid 06-10: settled (0): cured
    #  M3  due 2024-11-01: 211 days written_off 181+ (prov 1000, off the books)
    #      -> paid 06-15: settled: a recovery (1, 1000.00)
    #  M4  due 2024-11-01: written off both nights (before 0, after 0)
    #  M5  due 2024-12-20: 162 days 91-180 (250) -> 192 days written_off 181+:
    #      after = its outstanding 1000, a write-off of 1000
    #  M6  1-30 (20) -> closed (absent in night2)
    #  M7  new: due 06-20, 10 days 1-30 (20)
    #  M8  due 07-15: current both nights (10 -> 10): stays first, cures
    #  M9  1-30 CNY (20) -> USD 31-60 (20): closed in CNY, new in USD
    #  M10 USD due 03-01: 91 -> 121 days, 91-180 both (250 -> 250)
    #  M11 due 2024-11-01: written_off 181+ -> closed: neither rolled nor cured
    w = "movement"
    mx = rows(os.path.join(root, "movement", "matrix.bucket.csv"), "currency,from,to")
    # from 1-30 (CNY): M1, M2, M6, M9 -> roll-forward 1/4, cure 3/4 (settled, 2 closed)
    check_row(mx, ("CNY", "1-30", "closed"), dict(loans="2", outstanding_previous="2000.00",
                                                  outstanding_current="0.00", roll_forward_rate="0.250000",
                                                  cure_rate="0.750000"), w)
    # from 181+: M3 settled (cures), M4 stays, M11 written off then closed: cure 1/3
    check_row(mx, ("CNY", "181+", "closed"), dict(loans="1", roll_forward_rate="0.000000",
                                                  cure_rate="0.333333"), w)
    check_row(mx, ("CNY", "current", "current"), dict(loans="1", cure_rate="1.000000"), w)
    check_row(mx, ("CNY", "91-180", "181+"), dict(loans="1", roll_forward_rate="1.000000", cure_rate="0.000000"), w)
    check_row(mx, ("CNY", "new", "1-30"), dict(loans="1", outstanding_previous="0.00",
                                               outstanding_current="1000.00", roll_forward_rate="",
                                               cure_rate=""), w)
    check_row(mx, ("USD", "new", "31-60"), dict(loans="1"), w)
    pm = rows(os.path.join(root, "movement", "provisions.bucket.csv"), "currency")
    # CNY: opening = before: M1 20 + M2 20 + M5 250 + M6 20 + M8 10 + M9 20 = 340
    #  (M3, M4, M11 written off in night1: 0). charge: M5 1000 - 250 = 750,
    #  M7 20 -> 770. release: M2 20, M6 20, M9 20 -> 60. write_offs: M5 1000.
    #  closing: night2 CNY rows not written off: M1 20 + M7 20 + M8 10 = 50;
    #  340 + 770 - 60 - 1000 = 50. Recoveries: M3, 1 loan, 1000.00.
    # USD: opening 250 (M10), charge 20 (M9 new), closing 270.
    check_row(pm, "CNY", dict(opening="340.00", charge="770.00", release="60.00", write_offs="1000.00",
                              closing="50.00", recoveries="1", recoveries_outstanding="1000.00"), w)
    check_row(pm, "USD", dict(opening="250.00", charge="20.00", release="0.00", write_offs="0.00",
                              closing="270.00", recoveries="0"), w)
    j = rows(os.path.join(root, "movement", "journal.bucket.csv"), "currency,kind")
    check_row(j, ("CNY", "charge"), dict(date="2025-06-30", debit="信用减值损失", credit="贷款损失准备",
                                         amount="770.00", loans="2"), w)
    check_row(j, ("CNY", "release"), dict(debit="贷款损失准备", credit="信用减值损失", amount="60.00",
                                          loans="3"), w)
    check_row(j, ("CNY", "write_off"), dict(debit="贷款损失准备", credit="贷款", amount="1000.00", loans="1"), w)
    check_row(j, ("USD", "charge"), dict(amount="20.00", loans="1"), w)
    if len(j) != 4:
        failures.append(f"{w}: {len(j)} journal entries, expected 4")
    jd = rows(os.path.join(root, "movement", "journal.direct.csv"), "currency,kind")
    # direct write-off: only M5's write-off, Dr impairment loss / Cr loans
    check_row(jd, ("CNY", "write_off"), dict(debit="信用减值损失", credit="贷款", amount="1000.00", loans="1"), w)
    if len(jd) != 1:
        failures.append(f"{w}: {len(jd)} direct journal entries, expected 1")
    mv = rows(os.path.join(root, "movement", "moves.bucket.csv"), "loan_id,currency")
    check_row(mv, ("M9", "CNY"), {"from": "1-30", "to": "closed", "provision_before": "20.00",
                                  "provision_after": "0.00"}, w)
    check_row(mv, ("M9", "USD"), {"from": "new", "to": "31-60", "provision_before": "0.00",
                                  "provision_after": "20.00"}, w)
    check_row(mv, ("M5", "CNY"), {"from": "91-180", "to": "181+", "provision_before": "250.00",
                                  "provision_after": "1000.00"}, w)
    check_row(mv, ("M11", "CNY"), {"from": "181+", "to": "closed", "provision_before": "0.00",
                                   "provision_after": "0.00"}, w)
    mc = rows(os.path.join(root, "movement", "matrix.classification.csv"), "currency,from,to")
    # by class: substandard in night1: M3, M4, M5 (162 days), M11 (all < 271
    #  days); M4 and M5 stay substandard, M3 settled (cure), M11 closed while
    #  written off (neither): cure 1/4, roll-forward 0.
    check_row(mc, ("CNY", "substandard", "substandard"), dict(loans="2", roll_forward_rate="0.000000",
                                                              cure_rate="0.250000"), w)
    ms = rows(os.path.join(root, "movement", "matrix.status.csv"), "currency,from,to")
    # by status: no rates
    check_row(ms, ("CNY", "overdue", "written_off"), dict(loans="1", roll_forward_rate="", cure_rate=""), w)


if __name__ == "__main__":
    sys.exit(main())
