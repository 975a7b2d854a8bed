#!/usr/bin/env python3
"""An independent reference implementation of SPEC.md sections 1-3, written
from the spec alone (not from the Rust code) with Python's exact `decimal`.

The integration tests run it on the same books as `arrears run` and require
byte-identical results and summary CSV. It reads the same TOML policies
(tomllib), but only accepted rows are compared: rejects are checked by the
Rust tests.

Section 2 as amended: every cap's limit is rounded down to the cent, the
policy's `rounding` takes `down` (toward zero) besides half_up and half_even,
and the results always carry `outstanding` after `principal` (SPEC section 3).
Due dates are not rolled to working days here (no `due_date_roll`/calendar
support), so neither is `working_days`; `lpr_multiple` caps are not handled.

usage: arrears_ref.py BOOK.csv --as-of YYYY-MM-DD [--policy FILE]
                      [--group-by KEYS] -o RESULTS.csv --summary SUMMARY.csv
"""
import argparse
import csv
import datetime as dt
import re
import sys
import tomllib
from decimal import Decimal, ROUND_HALF_UP, ROUND_HALF_EVEN, ROUND_DOWN, getcontext

getcontext().prec = 60

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("book")
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--policy")
    ap.add_argument("--group-by", default="currency,product,bucket")
    ap.add_argument("-o", required=True)
    ap.add_argument("--summary", required=True)
    a = ap.parse_args()
    pol = dict(DEFAULT)
    if a.policy:
        with open(a.policy, "rb") as f:
            pol.update(tomllib.load(f))
    as_of = date(a.as_of)
    mode = pol["rounding"]
    yd = D(pol["year_days"])
    mult = D(pol["penalty_multiplier"])
    caps = pol["caps"]
    classes = pol["classes"]
    edges = pol["bucket_edges"]
    labels = ["current"]
    lo = 1
    for e in edges:
        labels.append(f"{lo}-{e}")
        lo = e + 1
    labels.append(f"{lo}+")

    with open(a.book, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    header = [h.strip().lower() for h in rows[0]]

    def col(name):
        want = pol["columns"].get(name, name).strip().lower()
        return header.index(want) if want in header else None

    idx = {c: col(c) for c in ["loan_id", "principal", "due_date", "annual_rate", "daily_rate", "paid_date",
                               "penalty_rate", "unpaid_interest", "fees", "outstanding", "currency",
                               "product", "account_id", "region"]}
    dims = [d for d in ["product", "account_id", "region"] if idx[d] is not None]
    out_header = ["loan_id"] + dims + ["currency", "principal", "outstanding", "due_date", "end_date", "days_overdue",
                                       "chargeable_days", "daily_rate", "penalty_daily_rate", "interest", "penalty",
                                       "compound", "fees", "total_raw", "total_capped", "excess", "breaches",
                                       "binding_cap", "annualized_rate", "status", "bucket", "classification",
                                       "provision"]
    results = []
    records = []
    for raw in rows[1:]:
        def get(c):
            i = idx[c]
            return raw[i].strip() if i is not None else ""
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
        settled = paid is not None and paid <= as_of
        end = paid if settled else as_of
        delta = (end - due).days
        days_overdue = max(0, delta)
        if pol["count_both_ends"] and delta > 0:
            days_overdue = delta + 1
        g = pol["grace_days"]
        if days_overdue <= g:
            days = 0
        elif pol["grace_mode"] == "charge_all":
            days = days_overdue
        else:
            days = days_overdue - g
        # rates as exact fractions: numerator / per
        if daily_t:
            num, per = rate(daily_t), Decimal(1)
        else:
            num, per = rate(annual_t), yd
        if pen_t:
            pnum, pper = rate(pen_t), Decimal(1)
        else:
            pnum, pper = mult * num, per
        comp = dict.fromkeys(COMPONENTS, Decimal("0.00"))
        if days > 0:
            if pol["contract_interest"]:
                comp["interest"] = rnd(principal * num * days / per, mode)
            if pol["penalty"]:
                comp["penalty"] = rnd(principal * pnum * days / pper, mode)
            if pol["compound"]:
                comp["compound"] = rnd(ui * pnum * days / pper, mode)
            comp["fees"] = fees
        total_raw = sum(comp.values())
        running = dict(comp)
        breaches, binding = [], ""
        for cap in caps:
            applies = cap.get("applies_to", COMPONENTS)
            k = cap["kind"]
            if k == "annual_rate":
                lim = principal * D(cap["rate"]) * days / D(cap.get("year_days", 365))
            elif k == "daily_rate":
                lim = principal * D(cap["rate"]) * days
            elif k == "principal_ratio":
                lim = principal * D(cap["ratio"])
            elif k == "fixed":
                lim = D(cap["amount"])
            else:
                lim = D(cap["ratio"]) * sum(comp[c] for c in cap["of"])
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
        ann = "" if principal == 0 or days == 0 else fmt6(total_raw * 365 / (principal * days))
        if days_overdue == 0:
            status = "current"
        elif days_overdue <= g:
            status = "grace"
        elif settled:
            status = "settled_late"
        elif days_overdue > pol["write_off_days"]:
            status = "written_off"
        else:
            status = "overdue"
        b = 0 if days_overdue == 0 else 1 + sum(1 for e in edges if days_overdue > e)
        cls = None
        if not settled:
            cls = [i for i, c in enumerate(classes) if days_overdue >= c["min_days"]][-1]
        if settled:
            prov = Decimal("0")
        elif status == "written_off":
            prov = outstanding
        else:
            prov = rnd(outstanding * D(classes[cls]["provision_rate"]), mode)
        m = lambda x: f"{x:.2f}"
        out = [loan_id] + [get(d) for d in dims] + [
            currency, m(principal), m(outstanding), due.isoformat(), end.isoformat(), str(days_overdue), str(days),
            fmt_rate(num / per), fmt_rate(pnum / pper), m(comp["interest"]), m(comp["penalty"]),
            m(comp["compound"]), m(comp["fees"]), m(total_raw), m(total_capped), m(total_raw - total_capped),
            ";".join(breaches), binding, ann, status, labels[b], classes[cls]["name"] if cls is not None else "",
            m(prov)]
        results.append(out)
        records.append(dict(currency=currency, product=get("product"), account_id=get("account_id"),
                            region=get("region"), bucket=(b, labels[b]), status=status,
                            classification=(cls if cls is not None else len(classes),
                                            classes[cls]["name"] if cls is not None else ""),
                            principal=principal, outstanding=outstanding, comp=comp, total_raw=total_raw,
                            total_capped=total_capped, breaches=breaches, prov=prov, days=days_overdue,
                            settled=settled, cls=classes[cls]["name"] if cls is not None else None))
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

    def label(r, k):
        v = sort_key(r, k)
        return v[1]

    groups = {}
    for r in records:
        groups.setdefault(tuple(sort_key(r, k) for k in keys), []).append(r)

    def nearest(sorted_days, p):
        n = len(sorted_days)
        rank = max(1, -(-p * n // 100))
        return str(sorted_days[rank - 1])

    def stats(rs, total):
        m = lambda x: f"{x:.2f}"
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
        return row

    header = keys + ["loans", "overdue_loans", "principal", "outstanding", "interest", "penalty", "compound",
                     "fees", "total_raw", "total_capped", "excess", "breached_loans"]
    header += ["breaches_" + c["name"] for c in caps]
    header += ["provision", "written_off_principal", "days_p50", "days_p90", "days_p99", "days_max",
               "npl_ratio", "coverage"]
    out = [header]
    for cur in sorted({r["currency"] for r in records}):
        mine = sorted((k, v) for k, v in groups.items() if k[0][1] == cur)
        if len(keys) > 1:
            for k, rs in mine:
                out.append([p[1] for p in k] + stats(rs, False))
        out.append([cur] + ["*"] * (len(keys) - 1) + stats([r for r in records if r["currency"] == cur], True))
    with open(a.summary, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(out)


if __name__ == "__main__":
    main()
