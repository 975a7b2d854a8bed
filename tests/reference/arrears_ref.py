#!/usr/bin/env python3
"""An independent reference implementation of SPEC.md sections 1-3, 5 and 6,
written from the spec alone (not from the Rust code) with Python's exact
`decimal`.

The integration tests run it on the same books as `arrears run` and require
byte-identical results and summary CSV. It reads the same TOML policies
(tomllib), but only accepted rows are compared: rejects are checked by the
Rust tests (the reference writes no rejects file and no run report).

usage:
  arrears_ref.py BOOK.csv --as-of YYYY-MM-DD [--policy FILE] [--group-by KEYS]
                 -o RESULTS.csv --summary SUMMARY.csv
                 [--repayments FILE [FILE...]] [--unmatched FILE]
  arrears_ref.py movement PREVIOUS.csv CURRENT.csv [--by bucket|classification|status]
                 [--policy FILE] [-o MOVES.csv] [--summary MATRIX.csv]
                 [--provisions MOVEMENT.csv] [--journal JOURNAL.csv] [--as-of DATE]

Section 2 as amended: every cap's limit is rounded down to the cent, the
policy's `rounding` takes `down` (toward zero) besides half_up and half_even
(components and provisions), and the results always carry `outstanding`
after `principal` (SPEC section 3). Not handled here: due-date rolls to working
days (`due_date_roll`, `[calendar]`, hence `working_days` too), `lpr_multiple`
caps (an error), `base` presets, manifests, Parquet, zstd.

Readings of SPEC (where it is ambiguous, the most literal reading is taken):

Section 5 (repayments)
 R1. Dues of charges are judged against the RAW accrued components ("Payments
     are allocated against the raw charges"), never the capped ones; the caps
     only enter balance_due and collected_over_cap at the end.
 R2. A payment dated on or before the accrual start pays before any day is
     charged: interest, penalty and compound due at it are 0 even when
     section 2 with end = d would give a chargeable day (skip_grace with
     count_both_ends and d = due + grace_days gives days_overdue = grace + 1).
     Fees are due at it when the grace rule at d says the grace is passed.
     The segment beginning at the accrual start keeps its extra day under
     count_both_ends and is charged on the balance after that payment.
 R3. Final figures at `end` are section 2's with end: an end equal to the
     accrual start under skip_grace + count_both_ends has 1 chargeable day
     (segment [start, start] plus the extra day), charged on the balance after
     the payments dated on or before the start.
 R4. Under charge_all, a payment inside the grace period pays no charges, yet
     the days before it are charged later (on the balance before it) once
     `end` is past the grace: charge_all charges back to the due date.
 R5. Payments dated after `end` (end = paid_date, or a settlement by
     payments) pay the dues as they stand at `end` (section 2 at end, R3);
     after a settlement by payments they are wholly overpaid.
 R6. Settlement by payments is judged only for payments dated on or before
     the current end. A payment that leaves every due at 0 settles the row even
     when nothing was charged yet (e.g. paying P and U before the due date);
     such a row is `settled` (status current/grace/settled_late, no
     classification, provision 0).
 R7. The results' `outstanding` = max(0, book outstanding - repaid_principal)
     for every row; the provision of an unpaid row is on it (written_off:
     all of it), and so are the summary's outstanding, npl_ratio, coverage.
     A settled row's provision is 0 as in section 2.
 R8. balance_due is 0 only for a row settled by paid_date (book says repaid);
     a row settled by payments gets the formula, which is 0 by construction.
 R9. principal_due = P - repaid_principal; unpaid interest due =
     U - repaid_unpaid_interest; caps with days (annual_rate, daily_rate) use
     the principal-days, which are 0 when the grace rule gives 0 chargeable
     days at end; principal_ratio uses P; component_ratio the raw components.
 R10. The summary adds the sums of the eight repayment columns after ALL the
     existing summary columns (after npl_ratio and coverage), in the results'
     order. An assumption: SPEC only says "the summary adds their sums".
 R11. Unmatched payments: every readable payment whose loan_id is not that of
     an accepted book row, whatever its date (even after as_of), in file and
     line order; `file` as given on the command line, `line` the file line
     (header = line 1), `date` ISO, `amount` with 2 decimals, `reason`
     `no such loan_id` or `its book row was rejected` (the loan_id is in the
     book but every row with it was rejected). The file is written only
     with --unmatched.
 R12. Book duplicates under --repayments: every row whose trimmed loan_id
     came before (in any earlier row, even a rejected one) is a reject. A
     payment row is unreadable when its loan_id is empty, its date or amount
     cannot be read, its amount is not > 0, or its field count differs from
     the header; its readable loan_id rejects the book row(s) with that id.
 R13. Components over segments: interest = round(sum(principal_seg x days) x
     rate), penalty likewise with the penalty rate, compound =
     round(sum(unpaid_interest_seg x days) x penalty rate); a segment's
     balance is the one after every payment dated on or before its start.

Section 6 (movement)
 M1. State order: the policy's buckets (bucket_edges labels), classes (policy
     order) or statuses (SPEC order current, grace, settled_late,
     written_off, overdue), then `settled`, `new`, `closed`. The matrix rows
     are by currency (sorted), then from-state, then to-state in that order;
     the provision movement and journal rows by currency, the journal's kinds
     in the order charge, release, write_off.
 M2. Per-loan moves (-o): PREVIOUS's loans in its file order (a loan whose
     currency changed appears there as `closed`), then CURRENT's loans not
     matched (new, and the `new` half of a currency change) in CURRENT's order.
 M3. A row is `settled` when its classification is empty (settled by a
     paid_date or by payments), whatever --by.
 M4. Rates: denominator = all the from-state's loans of the currency,
     including a written-off loan that is then closed (it is neither rolled
     forward nor cured, but it counts in the share). Cure counts to-states
     settled, closed and the first state (the first state staying first).
     Roll-forward counts to-states that are buckets/classes later than the
     from-state. Empty for --by status and for from-states settled and new.
 M5. A loan whose currency changed: its closed half has wo_previous from
     PREVIOUS, its new half is "new" (not written off in PREVIOUS).
 M6. Journal `loans` = count of loans whose own amount of that kind is > 0;
     entries only for a non-zero total. Kinds named `charge`, `release`,
     `write_off`; date = --as-of (the reference reads no manifest, so
     --journal needs --as-of). Account names: [accounting] impairment_loss,
     allowance, loans, defaulting to the cn-bank names (the reference knows
     no other preset).
 M7. The policy is --policy or cn-bank (no manifest lookup). Recoveries:
     written off in PREVIOUS, `settled` in CURRENT (same currency).

Where SPEC contradicts itself or leaves a gap (see also R2, R8, R10):
 C1. Section 5 says the grace rule is judged at each payment date d with
     section 2's end = d and that the segments' days add up to section 2's
     chargeable days, yet also that at or before the accrual start no day is
     charged: under skip_grace + count_both_ends a payment dated exactly
     due + grace_days has 1 chargeable day by section 2 and 0 by the
     segments (R2 takes the segments, R3 the final figures of section 2).
 C2. A row settled by paid_date has balance_due 0, yet principal_due =
     P - repaid_principal and outstanding = book outstanding - principal
     repaid can stay above 0 on it (example repay_basic R4: 710.00).
 C3. Section 5 names `lpr_multiple` among the caps that run with days, but
     section 2's table of cap kinds has no such kind (only the README does).
 C4. Section 6 defines `settled` as "its paid_date is on or before that
     file's as-of", but results carry no paid_date and a row settled by
     payments has none; the classification test (empty) is what is usable.
 C5. Section 4's policy listing still says `rounding = "half_up" # or
     "half_even"` while the text below adds `down`.
"""
import argparse
import csv
import datetime as dt
import gzip
import re
import sys
import tomllib
from decimal import Decimal, ROUND_HALF_UP, ROUND_HALF_EVEN, ROUND_DOWN, getcontext

getcontext().prec = 120

DEFAULT = {
    "name": "cn-bank", "currency": "CNY", "year_days": 360, "count_both_ends": False,
    "grace_days": 0, "grace_mode": "charge_all", "contract_interest": False, "penalty": True,
    "penalty_multiplier": "1.5", "compound": True, "rounding": "half_up", "write_off_days": 180,
    "bucket_edges": [30, 60, 90, 180], "columns": {},
    "classes": [
        {"name": "normal", "min_days": 0, "provision_rate": "0.01"},
        {"name": "special_mention", "min_days": 1, "provision_rate": "0.02"},
        {"name": "substandard", "min_days": 91, "provision_rate": "0.25"},
        {"name": "doubtful", "min_days": 271, "provision_rate": "0.50"},
        {"name": "loss", "min_days": 361, "provision_rate": "1.00"},
    ],
    "caps": [
        {"name": "annual-24", "kind": "annual_rate", "rate": "0.24", "year_days": 365},
        {"name": "annual-36", "kind": "annual_rate", "rate": "0.36", "year_days": 365},
    ],
}
COMPONENTS = ["interest", "penalty", "compound", "fees"]
REDUCE = ["fees", "compound", "penalty", "interest"]
DUES = ["fees", "penalty", "compound", "interest", "unpaid_interest", "principal"]
REPAY_COLUMNS = ["repaid", "repaid_principal", "repaid_unpaid_interest", "repaid_charges", "principal_due",
                 "balance_due", "collected_over_cap", "overpaid"]
ZERO = Decimal("0.00")


def D(x):
    return Decimal(str(x))


ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}


def rnd(x, mode):
    """Round to the cent with the policy's rounding: half_up, half_even or down (toward zero)."""
    return x.quantize(Decimal("0.01"), rounding=ROUNDING[mode])


def limit_down(x):
    """A cap's limit, rounded down to the cent (SPEC section 2): a legal maximum that a
    charge in whole cents may reach but never pass. Limits are never negative, so
    toward zero and floor agree."""
    return x.quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def m(x):
    return f"{x:.2f}"


def money(text):
    t = text.strip()
    if not re.fullmatch(r"(\d+|\d{1,3}(,\d{3})+)(\.\d{1,2})?", t):
        raise ValueError(t)
    return Decimal(t.replace(",", ""))


def rate(text):
    t = text.strip()
    for suffix, div in (("%", 100), ("‰", 1000), ("‱", 10000)):
        if t.endswith(suffix):
            return Decimal(t[:-1].strip()) / div
    return Decimal(t)


def date(text):
    t = re.split("[ T]", text.strip())[0]
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(t, fmt).date()
        except ValueError:
            pass
    raise ValueError(t)


def fmt_rate(x):
    s = format(x.quantize(Decimal("1e-10"), rounding=ROUND_HALF_UP).normalize(), "f")
    return s


def fmt6(x):
    return str(x.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))


def load_policy(path):
    pol = dict(DEFAULT)
    if path:
        with open(path, "rb") as f:
            pol.update(tomllib.load(f))
    alloc = pol.get("allocation", DUES)
    if sorted(alloc) != sorted(DUES):
        sys.exit(f"policy: allocation must name each of {', '.join(DUES)} once, got {alloc}")
    pol["allocation"] = list(alloc)
    if pol["rounding"] not in ROUNDING:
        sys.exit(f"policy: rounding: unknown value {pol['rounding']!r}")
    return pol


def read_rows(path):
    """All records of a CSV file (optionally gzip-compressed), with the file line where each starts."""
    opener = gzip.open if path.endswith((".gz", ".gzip")) else open
    with opener(path, "rt", newline="", encoding="utf-8-sig") as f:
        rd = csv.reader(f)
        out = []
        line = 1
        for rec in rd:
            out.append((line, rec))
            line = rd.line_num + 1
    return out


def bucket_labels(edges):
    labels = ["current"]
    lo = 1
    for e in edges:
        labels.append(f"{lo}-{e}")
        lo = e + 1
    labels.append(f"{lo}+")
    return labels


def read_payments(paths, pol):
    """Payment rows: (file, line, loan_id, date, amount) of the readable ones, and the loan_ids of
    unreadable ones (their book rows are rejects)."""
    good, bad_ids = [], set()
    cmap = pol.get("repayment_columns", {})
    for path in paths:
        rows = read_rows(path)
        header = [h.strip().lower() for h in rows[0][1]]
        idx = {}
        for c in ["loan_id", "date", "amount"]:
            want = cmap.get(c, c).strip().lower()
            if want not in header:
                sys.exit(f"{path}: missing column {want}; found {', '.join(header)}")
            idx[c] = header.index(want)
        for line, raw in rows[1:]:
            lid = raw[idx["loan_id"]].strip() if idx["loan_id"] < len(raw) else ""
            try:
                assert len(raw) == len(header)
                assert lid
                d = date(raw[idx["date"]])
                amt = money(raw[idx["amount"]])
                assert amt > 0
            except Exception:
                if lid:
                    bad_ids.add(lid)
                continue  # a reject
            good.append((path, line, lid, d, amt))
    return good, bad_ids


def compute(pol, as_of, r, pays):
    """Sections 2 and 5 for one row. r: the row's read fields; pays: [(date, amount)] of its payments
    dated on or before as_of, one per date (same-date payments added), in date order."""
    mode = pol["rounding"]
    g = pol["grace_days"]
    cbe = pol["count_both_ends"]
    charge_all = pol["grace_mode"] == "charge_all"
    P, U, due = r["principal"], r["ui"], r["due"]
    num, per, pnum, pper = r["num"], r["per"], r["pnum"], r["pper"]
    A = due if charge_all else due + dt.timedelta(days=g)   # the accrual start (no due-date roll here)

    def days_overdue(t):
        delta = (t - due).days
        return delta + 1 if cbe and delta > 0 else max(0, delta)

    def chargeable(t):
        d = days_overdue(t)
        if d <= g:
            return 0
        return d if charge_all else d - g

    applied = []  # (date, principal due after, unpaid interest due after), one per payment date

    def accrue(t, at_payment):
        """Raw components accrued from the accrual start to t, the principal-days, the chargeable days."""
        comp = dict.fromkeys(COMPONENTS, ZERO)
        days = chargeable(t)
        if days == 0:
            return comp, Decimal(0), 0
        comp["fees"] = r["fees"]
        if at_payment and t <= A:
            return comp, Decimal(0), days   # at or before the accrual start only fees can be due
        p, u = P, U
        for dd, pa, ua in applied:
            if dd <= A:
                p, u = pa, ua
        a, first, sp, su, n_all = A, True, Decimal(0), Decimal(0), 0
        for dd, pa, ua in applied:
            if A < dd < t:
                n = (dd - a).days + (1 if first and cbe else 0)
                sp += p * n
                su += u * n
                n_all += n
                p, u, a, first = pa, ua, dd, False
        n = (t - a).days + (1 if first and cbe else 0)
        sp += p * n
        su += u * n
        n_all += n
        assert n_all == days, (r["loan_id"], t, n_all, days)
        if pol["contract_interest"]:
            comp["interest"] = rnd(sp * num / per, mode)
        if pol["penalty"]:
            comp["penalty"] = rnd(sp * pnum / pper, mode)
        if pol["compound"]:
            comp["compound"] = rnd(su * pnum / pper, mode)
        return comp, sp, days

    settled_by_paid = r["paid"] is not None and r["paid"] <= as_of
    end = r["paid"] if settled_by_paid else as_of
    settled_by_pay = False
    paid = dict.fromkeys(DUES, ZERO)
    overpaid = repaid = ZERO
    for d, amt in pays or []:
        repaid += amt
        if settled_by_pay:
            overpaid += amt
            continue
        comp, _, _ = accrue(d, True) if d <= end else accrue(end, False)
        dues = {c: max(ZERO, comp[c] - paid[c]) for c in COMPONENTS}
        dues["unpaid_interest"] = U - paid["unpaid_interest"]
        dues["principal"] = P - paid["principal"]
        left = amt
        for c in pol["allocation"]:
            x = min(left, dues[c])
            paid[c] += x
            dues[c] -= x
            left -= x
        overpaid += left
        applied.append((d, P - paid["principal"], U - paid["unpaid_interest"]))
        if d <= end and all(v == 0 for v in dues.values()):
            end, settled_by_pay = d, True
    settled = settled_by_paid or settled_by_pay
    comp, pdays, days = accrue(end, False)
    dod = days_overdue(end)
    total_raw = sum(comp.values())
    running = dict(comp)
    breaches, binding = [], ""
    for cap in pol["caps"]:
        applies = cap.get("applies_to", COMPONENTS)
        k = cap["kind"]
        if k == "annual_rate":
            lim = pdays * D(cap["rate"]) / D(cap.get("year_days", 365))
        elif k == "daily_rate":
            lim = pdays * D(cap["rate"])
        elif k == "principal_ratio":
            lim = P * D(cap["ratio"])
        elif k == "fixed":
            lim = D(cap["amount"])
        elif k == "component_ratio":
            lim = D(cap["ratio"]) * sum(comp[c] for c in cap["of"])
        else:
            sys.exit(f"cap {cap['name']}: kind {k} is not handled by the reference")
        lim = limit_down(lim)
        if sum(comp[c] for c in applies) > lim:
            breaches.append(cap["name"])
        over = sum(running[c] for c in applies) - lim
        for c in REDUCE:
            if c in applies and over > 0:
                cut = min(over, running[c])
                if cut > 0:
                    running[c] -= cut
                    over -= cut
                    binding = cap["name"]
    total_capped = sum(running.values())
    ann = "" if pdays == 0 else fmt6(total_raw * 365 / pdays)
    if dod == 0:
        status = "current"
    elif dod <= g:
        status = "grace"
    elif settled:
        status = "settled_late"
    elif dod > pol["write_off_days"]:
        status = "written_off"
    else:
        status = "overdue"
    edges, classes = pol["bucket_edges"], pol["classes"]
    b = 0 if dod == 0 else 1 + sum(1 for e in edges if dod > e)
    cls = None if settled else [i for i, c in enumerate(classes) if dod >= c["min_days"]][-1]
    outstanding = max(ZERO, r["outstanding"] - paid["principal"])
    if settled:
        prov = ZERO
    elif status == "written_off":
        prov = outstanding
    else:
        prov = rnd(outstanding * D(classes[cls]["provision_rate"]), mode)
    charges = sum(paid[c] for c in COMPONENTS)
    principal_due = P - paid["principal"]
    if settled_by_paid:
        balance_due = ZERO
    else:
        balance_due = principal_due + (U - paid["unpaid_interest"]) + max(ZERO, total_capped - charges)
    repay = dict(repaid=repaid, repaid_principal=paid["principal"], repaid_unpaid_interest=paid["unpaid_interest"],
                 repaid_charges=charges, principal_due=principal_due, balance_due=balance_due,
                 collected_over_cap=max(ZERO, charges - total_capped), overpaid=overpaid)
    assert repay["repaid"] == (repay["repaid_principal"] + repay["repaid_unpaid_interest"] + repay["repaid_charges"]
                               + repay["overpaid"]), r["loan_id"]
    return dict(end=end, days_overdue=dod, days=days, comp=comp, total_raw=total_raw, total_capped=total_capped,
                breaches=breaches, binding=binding, ann=ann, status=status, bucket=(b, bucket_labels(edges)[b]),
                cls=cls, settled=settled, outstanding=outstanding, prov=prov, repay=repay)


def run(argv):
    ap = argparse.ArgumentParser(prog="arrears_ref.py")
    ap.add_argument("book")
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--policy")
    ap.add_argument("--group-by", default="currency,product,bucket")
    ap.add_argument("-o", required=True)
    ap.add_argument("--summary", required=True)
    ap.add_argument("--repayments", nargs="+", metavar="FILE")
    ap.add_argument("--unmatched", metavar="FILE")
    ap.add_argument("--with-outstanding", action="store_true", help="accepted, no effect: always on")
    a = ap.parse_args(argv)
    pol = load_policy(a.policy)
    as_of = date(a.as_of)
    yd = D(pol["year_days"])
    mult = D(pol["penalty_multiplier"])
    caps = pol["caps"]
    classes = pol["classes"]
    with_repay = a.repayments is not None
    payments, bad_ids = read_payments(a.repayments, pol) if with_repay else ([], set())

    rows = read_rows(a.book)
    header = [h.strip().lower() for h in rows[0][1]]

    def col(name):
        want = pol["columns"].get(name, name).strip().lower()
        return header.index(want) if want in header else None

    idx = {c: col(c) for c in ["loan_id", "principal", "due_date", "annual_rate", "daily_rate", "paid_date",
                               "penalty_rate", "unpaid_interest", "fees", "outstanding", "currency",
                               "product", "account_id", "region"]}
    dims = [d for d in ["product", "account_id", "region"] if idx[d] is not None]
    parsed = []        # (get, row fields) of the accepted rows, in input order
    seen = set()       # every readable book loan_id (SPEC 5: the first occurrence is the one kept)
    for line, raw in rows[1:]:
        def get(c, raw=raw):
            i = idx[c]
            return raw[i].strip() if i is not None else ""
        lid0 = raw[idx["loan_id"]].strip() if idx["loan_id"] is not None and idx["loan_id"] < len(raw) else ""
        if with_repay:
            dup = lid0 in seen
            if lid0:
                seen.add(lid0)
            if dup or lid0 in bad_ids:
                continue  # a reject: duplicate loan_id, or a repayment of it could not be read
        try:
            loan_id = get("loan_id")
            assert loan_id
            principal = money(get("principal"))
            due = date(get("due_date"))
            daily_t, annual_t = get("daily_rate"), get("annual_rate")
            assert daily_t or annual_t
            paid = date(get("paid_date")) if get("paid_date") else None
            pen_t = get("penalty_rate")
            ui = money(get("unpaid_interest")) if get("unpaid_interest") else Decimal(0)
            fees = money(get("fees")) if get("fees") else Decimal(0)
            outstanding = money(get("outstanding")) if get("outstanding") else principal
            currency = (get("currency") or pol["currency"]).upper()
        except Exception:
            continue  # a reject; the Rust tests check those
        # rates as exact fractions: numerator / per
        if daily_t:
            num, per = rate(daily_t), Decimal(1)
        else:
            num, per = rate(annual_t), yd
        if pen_t:
            pnum, pper = rate(pen_t), Decimal(1)
        else:
            pnum, pper = mult * num, per
        parsed.append((get, dict(loan_id=loan_id, principal=principal, due=due, paid=paid, ui=ui, fees=fees,
                                 outstanding=outstanding, currency=currency, num=num, per=per, pnum=pnum,
                                 pper=pper)))

    # payments: matched to accepted rows by trimmed loan_id; same-date payments added; after as_of ignored
    accepted = {r["loan_id"] for _, r in parsed}
    by_loan, unmatched = {}, []
    for path, line, lid, d, amt in payments:
        if lid not in accepted:
            reason = "its book row was rejected" if lid in seen else "no such loan_id"
            unmatched.append([path, str(line), lid, d.isoformat(), m(amt), reason])
            continue
        if d > as_of:
            continue  # ignored, counted in the run report
        days = by_loan.setdefault(lid, {})
        days[d] = days.get(d, ZERO) + amt
    if a.unmatched:
        with open(a.unmatched, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["file", "line", "loan_id", "date", "amount", "reason"])
            w.writerows(unmatched)

    out_header = ["loan_id"] + dims + ["currency", "principal", "outstanding", "due_date", "end_date",
                                       "days_overdue", "chargeable_days", "daily_rate", "penalty_daily_rate",
                                       "interest", "penalty", "compound", "fees", "total_raw", "total_capped",
                                       "excess", "breaches", "binding_cap", "annualized_rate", "status", "bucket",
                                       "classification", "provision"]
    if with_repay:
        out_header += REPAY_COLUMNS
    results = []
    records = []
    for get, r in parsed:
        pays = sorted(by_loan.get(r["loan_id"], {}).items())
        x = compute(pol, as_of, r, pays)
        comp, cls = x["comp"], x["cls"]
        out = [r["loan_id"]] + [get(d) for d in dims] + [
            r["currency"], m(r["principal"]), m(x["outstanding"]), r["due"].isoformat(), x["end"].isoformat(),
            str(x["days_overdue"]), str(x["days"]), fmt_rate(r["num"] / r["per"]), fmt_rate(r["pnum"] / r["pper"]),
            m(comp["interest"]), m(comp["penalty"]), m(comp["compound"]), m(comp["fees"]), m(x["total_raw"]),
            m(x["total_capped"]), m(x["total_raw"] - x["total_capped"]), ";".join(x["breaches"]), x["binding"],
            x["ann"], x["status"], x["bucket"][1], classes[cls]["name"] if cls is not None else "", m(x["prov"])]
        if with_repay:
            out += [m(x["repay"][c]) for c in REPAY_COLUMNS]
        results.append(out)
        records.append(dict(currency=r["currency"], product=get("product"), account_id=get("account_id"),
                            region=get("region"), bucket=x["bucket"], status=x["status"],
                            classification=(cls if cls is not None else len(classes),
                                            classes[cls]["name"] if cls is not None else ""),
                            principal=r["principal"], outstanding=x["outstanding"], comp=comp,
                            total_raw=x["total_raw"], total_capped=x["total_capped"], breaches=x["breaches"],
                            prov=x["prov"], days=x["days_overdue"], settled=x["settled"],
                            cls=classes[cls]["name"] if cls is not None else None, repay=x["repay"]))
    with open(a.o, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(out_header)
        w.writerows(results)

    keys = ["currency"] + [k for k in a.group_by.split(",") if k != "currency"]
    status_order = ["current", "grace", "settled_late", "written_off", "overdue"]

    def sort_key(r, k):
        if k == "bucket":
            return r["bucket"]
        if k == "classification":
            return r["classification"]
        if k == "status":
            return (status_order.index(r["status"]), r["status"])
        return (0, r[k])

    groups = {}
    for r in records:
        groups.setdefault(tuple(sort_key(r, k) for k in keys), []).append(r)

    def nearest(sorted_days, p):
        n = len(sorted_days)
        rank = max(1, -(-p * n // 100))
        return str(sorted_days[rank - 1])

    def stats(rs, total):
        od = sorted(r["days"] for r in rs if r["days"] > 0)
        row = [str(len(rs)), str(len(od)), m(sum(r["principal"] for r in rs)),
               m(sum(r["outstanding"] for r in rs))]
        for c in COMPONENTS:
            row.append(m(sum(r["comp"][c] for r in rs)))
        row += [m(sum(r["total_raw"] for r in rs)), m(sum(r["total_capped"] for r in rs)),
                m(sum(r["total_raw"] - r["total_capped"] for r in rs)), str(sum(1 for r in rs if r["breaches"]))]
        row += [str(sum(1 for r in rs if cap["name"] in r["breaches"])) for cap in caps]
        prov = sum(r["prov"] for r in rs)
        row += [m(prov), m(sum(r["principal"] for r in rs if r["status"] == "written_off"))]
        row += [nearest(od, 50), nearest(od, 90), nearest(od, 99), str(od[-1])] if od else ["", "", "", ""]
        npl = unpaid = Decimal(0)
        for r in rs:
            if not r["settled"]:
                unpaid += r["outstanding"]
                if r["cls"] in ("substandard", "doubtful", "loss"):
                    npl += r["outstanding"]
        row.append(fmt6(npl / unpaid) if total and unpaid else "")
        row.append(fmt6(prov / npl) if total and npl else "")
        if with_repay:
            row += [m(sum((r["repay"][c] for r in rs), ZERO)) for c in REPAY_COLUMNS]
        return row

    header = keys + ["loans", "overdue_loans", "principal", "outstanding", "interest", "penalty", "compound",
                     "fees", "total_raw", "total_capped", "excess", "breached_loans"]
    header += ["breaches_" + c["name"] for c in caps]
    header += ["provision", "written_off_principal", "days_p50", "days_p90", "days_p99", "days_max",
               "npl_ratio", "coverage"]
    if with_repay:
        header += REPAY_COLUMNS
    out = [header]
    for cur in sorted({r["currency"] for r in records}):
        mine = sorted((k, v) for k, v in groups.items() if k[0][1] == cur)
        if len(keys) > 1:
            for k, rs in mine:
                out.append([p[1] for p in k] + stats(rs, False))
        out.append([cur] + ["*"] * (len(keys) - 1) + stats([r for r in records if r["currency"] == cur], True))
    with open(a.summary, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(out)
STATUS_ORDER = ["current", "grace", "settled_late", "written_off", "overdue"]
ACCOUNTS_CN = {"impairment_loss": "信用减值损失", "allowance": "贷款损失准备", "loans": "贷款"}


def read_results(path, by, states):
    """A results CSV as {loan_id: row dict}, in file order; errors name the file and lines."""
    rows = read_rows(path)
    header = [h.strip() for h in rows[0][1]]
    need = ["loan_id", "currency", "outstanding", "provision", "status", "classification", by]
    for c in need:
        if c not in header:
            sys.exit(f"{path}: no `{c}` column (found: {', '.join(header)})")
    out, where = {}, {}
    for line, raw in rows[1:]:
        rec = dict(zip(header, raw))
        lid = rec["loan_id"]
        if lid in where:
            sys.exit(f"{path}: loan_id {lid!r} twice, lines {where[lid]} and {line}")
        where[lid] = line
        settled = rec["classification"] == ""
        state = "settled" if settled else rec[by]
        if not settled and state not in states:
            sys.exit(f"{path}:{line}: {by} {state!r} is not in the policy")
        out[lid] = dict(currency=rec["currency"], state=state, outstanding=Decimal(rec["outstanding"]),
                        provision=Decimal(rec["provision"]), written_off=rec["status"] == "written_off",
                        settled=settled)
    return out


def movement(argv):
    ap = argparse.ArgumentParser(prog="arrears_ref.py movement")
    ap.add_argument("previous")
    ap.add_argument("current")
    ap.add_argument("--by", default="bucket", choices=["bucket", "classification", "status"])
    ap.add_argument("--policy")
    ap.add_argument("-o", metavar="MOVES")
    ap.add_argument("--summary", metavar="MATRIX")
    ap.add_argument("--provisions", metavar="MOVEMENT")
    ap.add_argument("--journal", metavar="JOURNAL")
    ap.add_argument("--as-of", help="CURRENT's as-of: the journal's date")
    ap.add_argument("--previous-as-of", help="accepted, not used")
    a = ap.parse_args(argv)
    if a.journal and not a.as_of:
        sys.exit("movement: --journal needs --as-of (the reference reads no manifest)")
    pol = load_policy(a.policy)
    if a.by == "bucket":
        states = bucket_labels(pol["bucket_edges"])
    elif a.by == "classification":
        states = [c["name"] for c in pol["classes"]]
    else:
        states = STATUS_ORDER
    order = states + ["settled", "new", "closed"]
    prev = read_results(a.previous, a.by, states)
    cur = read_results(a.current, a.by, states)

    # one move per (loan, currency): a loan whose currency changed is closed in one and new in the other
    moves = []
    for lid, p in prev.items():
        c = cur.get(lid)
        if c is not None and c["currency"] == p["currency"]:
            moves.append((lid, p["currency"], p, c))
        else:
            moves.append((lid, p["currency"], p, None))
    for lid, c in cur.items():
        p = prev.get(lid)
        if p is None or p["currency"] != c["currency"]:
            moves.append((lid, c["currency"], None, c))

    per_loan = []
    for lid, ccy, p, c in moves:
        frm = p["state"] if p else "new"
        to = c["state"] if c else "closed"
        wo_p = bool(p and p["written_off"])
        wo_c = bool(c and c["written_off"])
        before = ZERO if (p is None or wo_p) else p["provision"]
        if c is None or (wo_p and wo_c):
            after = ZERO
        elif wo_c:
            after = c["outstanding"]
        else:
            after = c["provision"]
        per_loan.append(dict(loan_id=lid, currency=ccy, frm=frm, to=to, wo_p=wo_p, wo_c=wo_c,
                             out_p=p["outstanding"] if p else ZERO, out_c=c["outstanding"] if c else ZERO,
                             before=before, after=after, cur_prov=c["provision"] if c else ZERO))

    currencies = sorted({x["currency"] for x in per_loan})
    if a.o:
        with open(a.o, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["loan_id", "currency", "from", "to", "outstanding_previous", "outstanding_current",
                        "provision_before", "provision_after"])
            for x in per_loan:
                w.writerow([x["loan_id"], x["currency"], x["frm"], x["to"], m(x["out_p"]), m(x["out_c"]),
                            m(x["before"]), m(x["after"])])

    rated = a.by in ("bucket", "classification")
    matrix = [["currency", "from", "to", "loans", "outstanding_previous", "outstanding_current",
               "roll_forward_rate", "cure_rate"]]
    for ccy in currencies:
        mine = [x for x in per_loan if x["currency"] == ccy]
        for frm in order:
            group = [x for x in mine if x["frm"] == frm]
            if not group:
                continue
            rf = cure = ""
            if rated and frm in states:
                i = states.index(frm)
                n_rf = sum(1 for x in group if x["to"] in states and states.index(x["to"]) > i)
                n_cure = sum(1 for x in group
                             if (x["to"] in ("settled", "closed") or x["to"] == states[0])
                             and not (x["wo_p"] and x["to"] == "closed"))
                rf = fmt6(Decimal(n_rf) / len(group))
                cure = fmt6(Decimal(n_cure) / len(group))
            for to in order:
                cell = [x for x in group if x["to"] == to]
                if cell:
                    matrix.append([ccy, frm, to, str(len(cell)), m(sum((x["out_p"] for x in cell), ZERO)),
                                   m(sum((x["out_c"] for x in cell), ZERO)), rf, cure])
    if a.summary:
        with open(a.summary, "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(matrix)

    journal_date = date(a.as_of).isoformat() if a.as_of else ""
    acc = dict(pol.get("accounting", {}))
    method = acc.get("method", "allowance")
    names = {k: acc.get(k, v) for k, v in ACCOUNTS_CN.items()}
    prov_rows = [["currency", "opening", "charge", "release", "write_offs", "closing", "recoveries",
                  "recoveries_outstanding"]]
    journal = [["date", "currency", "kind", "debit", "credit", "amount", "loans"]]
    for ccy in currencies:
        mine = [x for x in per_loan if x["currency"] == ccy]
        opening = sum((x["before"] for x in mine), ZERO)
        charges = [max(ZERO, x["after"] - x["before"]) for x in mine]
        releases = [max(ZERO, x["before"] - x["after"]) for x in mine]
        wos = [x["out_c"] if (x["wo_c"] and not x["wo_p"]) else ZERO for x in mine]
        charge, release, write_offs = sum(charges, ZERO), sum(releases, ZERO), sum(wos, ZERO)
        closing = sum((x["cur_prov"] for x in mine if x["to"] != "closed" and not x["wo_c"]), ZERO)
        assert opening + charge - release - write_offs == closing, (ccy, opening, charge, release, write_offs,
                                                                     closing)
        rec = [x for x in mine if x["wo_p"] and x["to"] == "settled"]
        prov_rows.append([ccy, m(opening), m(charge), m(release), m(write_offs), m(closing), str(len(rec)),
                          m(sum((x["out_p"] for x in rec), ZERO))])
        if method == "allowance":
            entries = [("charge", names["impairment_loss"], names["allowance"], charges),
                       ("release", names["allowance"], names["impairment_loss"], releases),
                       ("write_off", names["allowance"], names["loans"], wos)]
        elif method == "direct_write_off":
            entries = [("write_off", names["impairment_loss"], names["loans"], wos)]
        else:
            sys.exit(f"policy: accounting.method: unknown value {method!r}")
        for kind, dr, cr, amounts in entries:
            total = sum(amounts, ZERO)
            if total != 0:
                journal.append([journal_date, ccy, kind, dr, cr, m(total),
                                str(sum(1 for v in amounts if v > 0))])
    if a.provisions:
        with open(a.provisions, "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(prov_rows)
    if a.journal:
        with open(a.journal, "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(journal)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "movement":
        movement(sys.argv[2:])
    else:
        run(sys.argv[1:])


if __name__ == "__main__":
    main()
