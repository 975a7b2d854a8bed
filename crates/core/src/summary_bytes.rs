//! A summary's tallies as bytes, and back: the state a worker (a Spark
//! partition, a batch) sends to be merged elsewhere. Exact: every sum is
//! its integer cents, every day count is kept, so merging decoded states
//! gives the summary of the whole, whatever the split.
//!
//! The format is compact and self-checking: `ARS1`, then the groups in key
//! order, each its key and its tally; integers as LEB128 varints (signed
//! ones zigzagged). Money is i128 cents.

use crate::money::Money;
use crate::summary::{Sum, Summary, Tally};

const MAGIC: &[u8; 4] = b"ARS1";

/// Why bytes are not a summary state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a summary state: {0}")]
pub struct StateError(pub String);

fn put_u(out: &mut Vec<u8>, mut v: u128) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_i(out: &mut Vec<u8>, v: i128) {
    put_u(out, ((v << 1) ^ (v >> 127)) as u128);
}

fn put_money(out: &mut Vec<u8>, m: Money) {
    put_i(out, m.cents());
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn fail(&self, what: &str) -> StateError {
        StateError(format!("{what} ({} bytes left)", self.bytes.len()))
    }

    fn u(&mut self) -> Result<u128, StateError> {
        let mut v: u128 = 0;
        for shift in (0..128).step_by(7) {
            let (&byte, rest) = self
                .bytes
                .split_first()
                .ok_or_else(|| self.fail("cut short"))?;
            self.bytes = rest;
            v |= u128::from(byte & 0x7f)
                .checked_shl(shift)
                .filter(|x| x >> shift == u128::from(byte & 0x7f))
                .ok_or_else(|| self.fail("integer too large"))?;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.fail("integer too long"))
    }

    fn u64(&mut self) -> Result<u64, StateError> {
        u64::try_from(self.u()?).map_err(|_| self.fail("count too large"))
    }

    fn len(&mut self) -> Result<usize, StateError> {
        let n = self.u64()? as usize;
        if n > self.bytes.len() {
            return Err(self.fail("length past the end"));
        }
        Ok(n)
    }

    fn i(&mut self) -> Result<i128, StateError> {
        let z = self.u()?;
        Ok(((z >> 1) as i128) ^ -((z & 1) as i128))
    }

    fn money(&mut self) -> Result<Money, StateError> {
        let cents = self.i()?;
        Money::new(cents).ok_or_else(|| self.fail("amount out of range"))
    }

    fn take(&mut self, n: usize) -> Result<&[u8], StateError> {
        if n > self.bytes.len() {
            return Err(self.fail("cut short"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
}

fn put_tally(out: &mut Vec<u8>, t: &Tally) {
    put_u(out, t.loans.into());
    put_u(out, t.overdue_loans.into());
    put_money(out, t.sum(Sum::Principal));
    put_money(out, t.sum(Sum::Outstanding));
    for i in 0..4 {
        put_money(out, t.sums.get(Sum::Amounts as usize + i));
    }
    put_money(out, t.sum(Sum::TotalRaw));
    put_money(out, t.sum(Sum::TotalCapped));
    put_money(out, t.sum(Sum::Excess));
    put_u(out, t.breached_loans.into());
    put_u(out, t.breaches.len() as u128);
    for &n in &t.breaches {
        put_u(out, n.into());
    }
    put_money(out, t.sum(Sum::Provision));
    put_money(out, t.sum(Sum::WrittenOffPrincipal));
    let days: Vec<(i64, u64)> = t.days.iter().collect();
    put_u(out, days.len() as u128);
    for (d, n) in days {
        put_i(out, d.into());
        put_u(out, n.into());
    }
    put_money(out, t.sum(Sum::UnpaidOutstanding));
    put_money(out, t.sum(Sum::NplOutstanding));
    for m in t.repaid() {
        put_money(out, m);
    }
}

fn read_tally(r: &mut Reader) -> Result<Tally, StateError> {
    // Sums start at zero: adding each decoded figure sets it (and widens
    // to 128 bits where it must), in the order `put_tally` wrote them.
    let mut t = Tally::default();
    t.loans = r.u64()?;
    t.overdue_loans = r.u64()?;
    let set = |t: &mut Tally, i: usize, r: &mut Reader| -> Result<(), StateError> {
        let m = r.money()?;
        t.sums.add(i, m).map_err(|_| r.fail("amount out of range"))
    };
    set(&mut t, Sum::Principal as usize, r)?;
    set(&mut t, Sum::Outstanding as usize, r)?;
    for i in 0..4 {
        set(&mut t, Sum::Amounts as usize + i, r)?;
    }
    set(&mut t, Sum::TotalRaw as usize, r)?;
    set(&mut t, Sum::TotalCapped as usize, r)?;
    set(&mut t, Sum::Excess as usize, r)?;
    t.breached_loans = r.u64()?;
    let caps = r.len()?;
    t.breaches = (0..caps).map(|_| r.u64()).collect::<Result<_, _>>()?;
    set(&mut t, Sum::Provision as usize, r)?;
    set(&mut t, Sum::WrittenOffPrincipal as usize, r)?;
    let days = r.len()?;
    for _ in 0..days {
        let d = i64::try_from(r.i()?).map_err(|_| r.fail("day out of range"))?;
        let n = r.u64()?;
        t.days.add(d, n);
    }
    set(&mut t, Sum::UnpaidOutstanding as usize, r)?;
    set(&mut t, Sum::NplOutstanding as usize, r)?;
    let mut repaid = [Money::ZERO; 8];
    for m in repaid.iter_mut() {
        *m = r.money()?;
    }
    t.set_repaid(repaid);
    Ok(t)
}

impl Summary {
    /// The tallies as bytes: the same bytes for equal summaries (groups in
    /// key order).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        let mut groups: Vec<(&[u8], &Tally)> =
            self.groups.iter().map(|(k, t)| (&k[..], &**t)).collect();
        groups.sort_unstable_by(|a, b| a.0.cmp(b.0));
        put_u(&mut out, groups.len() as u128);
        for (key, tally) in groups {
            put_u(&mut out, key.len() as u128);
            out.extend_from_slice(key);
            put_tally(&mut out, tally);
        }
        out
    }

    /// The summary `to_bytes` wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Summary, StateError> {
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| StateError("it does not start with ARS1".into()))?;
        let mut r = Reader { bytes: rest };
        let mut summary = Summary::default();
        let groups = r.len()?;
        for _ in 0..groups {
            let n = r.len()?;
            let key: Box<[u8]> = r.take(n)?.into();
            let tally = read_tally(&mut r)?;
            if summary.groups.insert(key, Box::new(tally)).is_some() {
                return Err(r.fail("a group appears twice"));
            }
        }
        if !r.bytes.is_empty() {
            return Err(r.fail("trailing bytes"));
        }
        Ok(summary)
    }
}
