//! The checkpoint's sections (see `checkpoint.rs`): the settled
//! requests' records, their keys and drop-ins, the requests held in full.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};

use jiff::Timestamp;

use super::{ColdRef, DROP_IN_BYTES, Header, Held, MAGIC, Unusable};
use crate::journal::Resume;
use crate::machine::{Machine, Parts};
use crate::request::lookup::{KEY_BYTES, KeyOwner};
use crate::request::settled::RECORD_BYTES;
use crate::request::{Request, Settled, SettledIndex};

type Sections = (Header, Parts, BTreeSet<u64>);

/// The header and sections of a checkpoint `len` bytes long, not yet
/// known to be MACed: only used once the MAC after them checks.
pub(super) fn parse(input: &mut impl BufRead, len: u64) -> Result<Sections, Unusable> {
    let mut line = Vec::new();
    input.read_until(b'\n', &mut line)?;
    if line != MAGIC {
        if line.starts_with(b"hitl checkpoint v") {
            return Err(Unusable::Version);
        }
        return Err(Unusable::Format("not a hitl checkpoint".into()));
    }
    line.clear();
    input.read_until(b'\n', &mut line)?;
    let bad = |e: serde_json::Error| Unusable::Format(e.to_string());
    let header: Header = serde_json::from_slice(&line).map_err(bad)?;
    // Not yet MACed: counts that would overflow are refused, not trusted.
    let wide = |n: usize, bytes: usize| n as u128 * bytes as u128;
    let need = wide(header.settled, RECORD_BYTES)
        + wide(header.keys, KEY_BYTES)
        + wide(header.tombstones, 8);
    if need > u128::from(len) {
        return Err(Unusable::Format("sections longer than the file".into()));
    }
    let (parts, gone) = read_sections(input, &header)?;
    Ok((header, parts, gone))
}

/// The binary sections and the requests held in full.
/// The sections and the tombstones (ids taken out of the cold file).
fn read_sections(
    input: &mut impl BufRead,
    header: &Header,
) -> Result<(Parts, BTreeSet<u64>), Unusable> {
    let format = |what: &str| Unusable::Format(what.to_string());
    let mut parts = Parts::default();
    let mut records = Vec::with_capacity(header.settled);
    const _: () = assert!(KEY_BYTES <= RECORD_BYTES && DROP_IN_BYTES <= RECORD_BYTES);
    let mut buf = [0u8; RECORD_BYTES];
    for _ in 0..header.settled {
        input.read_exact(&mut buf[..RECORD_BYTES])?;
        records.push(
            Settled::from_bytes(&buf[..RECORD_BYTES])
                .ok_or_else(|| format("a bad settled record"))?,
        );
    }
    parts.settled =
        SettledIndex::from_records(records).ok_or_else(|| format("a settled id twice"))?;
    for _ in 0..header.keys {
        input.read_exact(&mut buf[..KEY_BYTES])?;
        let (k, o) = KeyOwner::from_bytes(&buf[..KEY_BYTES]).ok_or_else(|| format("a bad key"))?;
        parts.lookups.keys.insert(k, o);
    }
    for _ in 0..header.drop_ins {
        input.read_exact(&mut buf[..DROP_IN_BYTES])?;
        let h = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
        let id = u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes"));
        parts.lookups.drop_ins.insert(h, id);
    }
    let mut gone = BTreeSet::new();
    for _ in 0..header.tombstones {
        input.read_exact(&mut buf[..8])?;
        gone.insert(u64::from_le_bytes(buf[..8].try_into().expect("8 bytes")));
    }
    // One request a line, each parsed from a reused buffer: from_reader
    // over the whole array is several times slower.
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let held: Held<Request> =
            serde_json::from_slice(&line).map_err(|e| Unusable::Format(e.to_string()))?;
        let id = held.request.id.clone();
        if let Some(span) = held.span {
            parts.spans.insert(id.clone(), span);
        }
        if parts.requests.insert(id, held.request).is_some() {
            return Err(format("a request twice"));
        }
    }
    if parts.requests.len() != header.requests {
        return Err(format("request count differs"));
    }
    parts.ledger = header.ledger.clone();
    Ok((parts, gone))
}

pub(super) fn write_body(
    out: &mut impl Write,
    resume: Resume,
    last_event: Option<Timestamp>,
    machine: &Machine,
    cold: Option<ColdRef>,
) -> Result<(), std::io::Error> {
    let requests = machine.requests();
    let settled = machine.settled_index();
    let lookups = machine.lookups();
    out.write_all(MAGIC)?;
    let header = Header {
        journal: resume,
        last_event,
        requests: requests.len(),
        settled: settled.hot_len(),
        cold,
        tombstones: settled.tombstones().len(),
        keys: lookups.keys.len(),
        drop_ins: lookups.drop_ins.len(),
        ledger: machine.ledger().clone(),
    };
    serde_json::to_writer(&mut *out, &header)?;
    out.write_all(b"\n")?;
    for s in settled.iter_hot() {
        out.write_all(&s.to_bytes())?;
    }
    for (k, o) in &lookups.keys {
        out.write_all(&KeyOwner::to_bytes(*k, o))?;
    }
    for (h, id) in &lookups.drop_ins {
        out.write_all(&h.to_le_bytes())?;
        out.write_all(&id.to_le_bytes())?;
    }
    for id in settled.tombstones() {
        out.write_all(&id.to_le_bytes())?;
    }
    for r in requests.values() {
        let held = Held {
            span: machine.span(&r.id),
            request: r,
        };
        serde_json::to_writer(&mut *out, &held)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
