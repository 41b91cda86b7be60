//! The write-ahead log, `<data file>.wal`: every commit is one record, appended and (in the
//! default durability) fsynced before the commit returns. A checkpoint folds the log into the
//! data file and truncates it back to its header.
//!
//! ```text
//! log header (versions 2 and 3: 512 bytes, one sector; rewritten when a checkpoint cuts the log)
//!   0  8  magic "WINDKVL\0"
//!   8  4  log format version (3; 2 is read)
//!  12  4  zero
//!  16  8  file id of the data file this log belongs to
//!  24  8  checkpoint id of the checkpoint this log follows
//!  32 256 a copy of that checkpoint's meta slot
//! 288 220 zero
//! 508  4  CRC32 of bytes 0..508
//!
//! (version 1: 32 bytes: magic, version 1, zero, file id, zero, CRC32 of bytes 0..28 at 28)
//!
//! record (one commit)
//!   0  4  body length b
//!   4  4  CRC32 of bytes 0..4 and 8..16 + b
//!   8  8  sequence number: one more than the record before it
//!  16  b  body
//!
//! body
//!   0  4  entry count
//!   then each entry:
//!     key count:      4 (u8) | i64     (version 3; first if present, at most once)
//!     put:            1 (u8) | key length u32 | key | value length u32 | value
//!     delete:         2 (u8) | key length u32 | key
//!     set identifier: 3 (u8) | length u32 | UTF-8 bytes
//! ```
//!
//! The key count entry says by how much the commit changed the number of keys, as its writer
//! counted it. Earlier builds wrote one for each commit kept in the write buffer, so that a
//! replay could add them up; this one writes none (a commit is no longer looked up in the tree
//! for its count: the buffer counts its keys when a count is asked for, and a replay does the
//! same), and reads one only to check it: it is at most the commit's puts and deletes in size.
//! A version-2 log has none.
//!
//! Recovery reads records in order from the header on, skips those the data file's meta slot
//! already covers, applies the rest, and stops at the first record that is torn (runs past the
//! end), fails its checksum, breaks the sequence, or whose body breaks a limit a commit is held
//! to (a key over the key limit, an identifier over 64 bytes or not UTF-8, more operations
//! than the body can hold): the checksum only says the bytes are as written, not that this
//! store wrote them.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::FileIo;
use crate::layout::file::{
    MAX_IDENTIFIER_BYTES, MAX_PAGE_SIZE, MAX_VALUE_BYTES, META_SLOT_BYTES, Meta, get_u32, get_u64, put_u32,
    put_u64,
};
use crate::layout::node::{cmp_keys, key_order, max_key_bytes};

pub(crate) mod writer;

pub(crate) const LOG_MAGIC: [u8; 8] = *b"WINDKVL\0";
/// The log format this build writes.
pub(crate) const LOG_VERSION: u32 = 3;
/// Version 2: the header of version 3, records without a key count entry.
const LOG_VERSION_2: u32 = 2;
const LOG_VERSION_1: u32 = 1;
pub(crate) const LOG_HEADER_BYTES: u64 = LOG_HEADER_LEN as u64;
/// [`LOG_HEADER_BYTES`] as a buffer length: one sector.
pub(crate) const LOG_HEADER_LEN: usize = 512;
/// The header of a version-1 log.
const V1_LOG_HEADER_LEN: usize = 32;
/// Where the first record of a log of any version may start.
pub(crate) const MIN_LOG_HEADER_BYTES: u64 = V1_LOG_HEADER_LEN as u64;
const LOG_HEADER_CRC: usize = LOG_HEADER_LEN - 4;
const LOG_META_AT: usize = 32;
/// The largest record body: its length field is a `u32`. A commit larger than this is refused
/// before anything is logged.
pub(crate) const MAX_RECORD_BODY_BYTES: u64 = u32::MAX as u64;
pub(crate) const RECORD_HEADER_BYTES: usize = 16;
/// Bytes read at a time looking for the end of the zeros after the last record.
const ZERO_SCAN_BYTES: usize = 64 * 1024;

const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;
const OP_SET_IDENTIFIER: u8 = 3;
const OP_KEY_COUNT: u8 = 4;
/// Bytes of a key count entry: its kind and an `i64`.
const KEY_COUNT_ENTRY_BYTES: usize = 9;

/// One logged change. Keys and values are borrowed on the commit path (the caller's slices, or
/// a batch's buffer): they are encoded into the log buffer and written to the tree from where
/// they are, never copied into an operation of their own. A decoded record owns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogOp<'a> {
    Put(Cow<'a, [u8]>, Cow<'a, [u8]>),
    Delete(Cow<'a, [u8]>),
    SetIdentifier(String),
}

impl LogOp<'_> {
    /// The operation owning its key and value.
    pub(crate) fn into_owned(self) -> LogOp<'static> {
        match self {
            LogOp::Put(k, v) => LogOp::Put(Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())),
            LogOp::Delete(k) => LogOp::Delete(Cow::Owned(k.into_owned())),
            LogOp::SetIdentifier(s) => LogOp::SetIdentifier(s),
        }
    }

    /// The key a put or delete changes; `None` for an identifier change.
    pub(crate) fn key(&self) -> Option<&[u8]> {
        match self {
            LogOp::Put(k, _) | LogOp::Delete(k) => Some(k),
            LogOp::SetIdentifier(_) => None,
        }
    }
}

/// Sort operations by key, stably (a later operation on a key stays after an earlier one), with
/// identifier changes first ([`key_order`]), moving each operation once.
pub(crate) fn sort_by_key(ops: &mut [LogOp<'_>]) {
    let in_order = |a: &LogOp<'_>, b: &LogOp<'_>| match (a.key(), b.key()) {
        (Some(x), Some(y)) => cmp_keys(x, y).is_le(),
        (x, y) => x <= y,
    };
    if ops.is_sorted_by(in_order) {
        return;
    }
    let mut order = key_order(ops.len(), |i| ops[i].key());
    // Place the operation `order[i]` names at `i`, one cycle of the permutation at a time.
    const PLACED: usize = usize::MAX;
    for start in 0..ops.len() {
        let mut at = start;
        while order[at] != PLACED {
            let from = std::mem::replace(&mut order[at], PLACED);
            if from == start {
                break;
            }
            ops.swap(at, from);
            at = from;
        }
    }
}

/// A decoded log header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogHeader {
    /// Its format version: 1, 2 or [`LOG_VERSION`].
    pub version: u32,
    /// The data file this log belongs to.
    pub file_id: u64,
    /// The checkpoint the log follows, as its meta slot said (version 2 only): proof of how far
    /// the data file had got even when its meta slots are damaged.
    pub follows: Option<Meta>,
    /// Bytes of the header: records start here.
    pub len: u64,
}

/// The header of a log that follows the checkpoint `meta` of the data file `file_id`.
pub(crate) fn encode_header(file_id: u64, meta: &Meta) -> [u8; LOG_HEADER_LEN] {
    let mut b = [0u8; LOG_HEADER_LEN];
    b[0..8].copy_from_slice(&LOG_MAGIC);
    put_u32(&mut b, 8, LOG_VERSION);
    put_u64(&mut b, 16, file_id);
    put_u64(&mut b, 24, meta.checkpoint_id);
    meta.encode(&mut b[LOG_META_AT..LOG_META_AT + META_SLOT_BYTES]);
    let crc = crc32fast::hash(&b[..LOG_HEADER_CRC]);
    put_u32(&mut b, LOG_HEADER_CRC, crc);
    b
}

/// The header at the start of `b` (the first [`LOG_HEADER_LEN`] bytes of the log, or all of it
/// when shorter), or `None` when it is damaged, blank or too short.
pub(crate) fn decode_header(b: &[u8]) -> Option<LogHeader> {
    if b.len() < V1_LOG_HEADER_LEN || b[0..8] != LOG_MAGIC {
        return None;
    }
    match get_u32(b, 8) {
        LOG_VERSION_1 => (crc32fast::hash(&b[..28]) == get_u32(b, 28)).then(|| LogHeader {
            version: LOG_VERSION_1,
            file_id: get_u64(b, 16),
            follows: None,
            len: V1_LOG_HEADER_LEN as u64,
        }),
        version @ (LOG_VERSION_2 | LOG_VERSION) => {
            let b = b.get(..LOG_HEADER_LEN)?;
            if crc32fast::hash(&b[..LOG_HEADER_CRC]) != get_u32(b, LOG_HEADER_CRC) {
                return None;
            }
            // The copy must be a whole slot naming the checkpoint the header names.
            let meta = Meta::decode(&b[LOG_META_AT..LOG_META_AT + META_SLOT_BYTES])
                .filter(|m| m.checkpoint_id == get_u64(b, 24))?;
            Some(LogHeader { version, file_id: get_u64(b, 16), follows: Some(meta), len: LOG_HEADER_BYTES })
        }
        _ => None,
    }
}

/// Bytes the record for `ops` (and a key count change, if given) will take.
pub(crate) fn record_len(ops: &[LogOp<'_>], key_delta: Option<i64>) -> usize {
    RECORD_HEADER_BYTES
        + 4
        + key_delta.map_or(0, |_| KEY_COUNT_ENTRY_BYTES)
        + ops
            .iter()
            .map(|op| match op {
                LogOp::Put(k, v) => 9 + k.len() + v.len(),
                LogOp::Delete(k) => 5 + k.len(),
                LogOp::SetIdentifier(s) => 5 + s.len(),
            })
            .sum::<usize>()
}

/// Append the record for `ops` to `out`, with the key count change `key_delta` when the
/// writer counted it, or refuse a commit whose record the format cannot hold
/// (a body over [`MAX_RECORD_BODY_BYTES`]) before anything is appended. Every length inside was
/// checked by the caller against the key and value limits, which fit `u32`.
pub(crate) fn encode_record(
    seq: u64,
    ops: &[LogOp<'_>],
    key_delta: Option<i64>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let (body_bytes, body_len) = body_length(ops, key_delta)?;
    let start = out.len();
    out.reserve(record_len(ops, key_delta));
    out.extend_from_slice(&[0u8; RECORD_HEADER_BYTES]);
    encode_body_start(ops, key_delta, out);
    for op in ops {
        encode_op(op, out);
    }
    debug_assert_eq!(out.len() - start - RECORD_HEADER_BYTES, body_bytes);
    let rec = &mut out[start..];
    put_u32(rec, 0, body_len);
    put_u64(rec, 8, seq);
    let mut h = crc32fast::Hasher::new();
    h.update(&rec[0..4]);
    h.update(&rec[8..]);
    let crc = h.finalize();
    put_u32(rec, 4, crc);
    Ok(())
}

/// The record of `ops` written to `file` at `offset` a piece of at most about `piece` bytes at
/// a time, never built whole in memory (a commit of a million pairs made a record of 180 MiB):
/// the body first, then its header, whose checksum covers it. A crash in between leaves a
/// header of zeros (or of the bytes there before) that fails its checksum: a torn record, as
/// any other. Returns the record's length; refuses (before writing anything) what
/// [`encode_record`] refuses.
pub(crate) fn write_record(
    seq: u64,
    (ops, key_delta): (&[LogOp<'_>], Option<i64>),
    file: &dyn FileIo,
    offset: u64,
    piece: usize,
) -> Result<u64> {
    let (body_bytes, body_len) = body_length(ops, key_delta)?;
    let mut h = crc32fast::Hasher::new();
    h.update(&body_len.to_le_bytes());
    h.update(&seq.to_le_bytes());
    let mut at = offset + RECORD_HEADER_BYTES as u64;
    let mut buf = Vec::with_capacity(piece);
    encode_body_start(ops, key_delta, &mut buf);
    let mut flush = |buf: &mut Vec<u8>| -> Result<()> {
        h.update(buf);
        file.write_all_at(buf, at)?;
        at += buf.len() as u64;
        buf.clear();
        Ok(())
    };
    for op in ops {
        encode_op(op, &mut buf);
        if buf.len() >= piece {
            flush(&mut buf)?;
        }
    }
    flush(&mut buf)?;
    let mut head = [0u8; RECORD_HEADER_BYTES];
    put_u32(&mut head, 0, body_len);
    put_u32(&mut head, 4, h.finalize());
    put_u64(&mut head, 8, seq);
    file.write_all_at(&head, offset)?;
    Ok((RECORD_HEADER_BYTES + body_bytes) as u64)
}

/// The body's length of the record of `ops`, or `CommitTooLarge` when the format cannot hold it.
fn body_length(ops: &[LogOp<'_>], key_delta: Option<i64>) -> Result<(usize, u32)> {
    let body_bytes = record_len(ops, key_delta) - RECORD_HEADER_BYTES;
    let body_len = u32::try_from(body_bytes).map_err(|_| Error::CommitTooLarge {
        bytes: u64::try_from(body_bytes).unwrap_or(u64::MAX),
        max: MAX_RECORD_BODY_BYTES,
    })?;
    Ok((body_bytes, body_len))
}

/// A length inside a body: each is at most the body's length, checked to fit `u32`.
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Append the start of a body: its entry count, and the key count entry if there is one.
fn encode_body_start(ops: &[LogOp<'_>], key_delta: Option<i64>, out: &mut Vec<u8>) {
    out.extend_from_slice(&len32(ops.len() + usize::from(key_delta.is_some())).to_le_bytes());
    if let Some(delta) = key_delta {
        out.push(OP_KEY_COUNT);
        out.extend_from_slice(&delta.to_le_bytes());
    }
}

/// Append one operation's encoding to a body.
fn encode_op(op: &LogOp<'_>, out: &mut Vec<u8>) {
    match op {
        LogOp::Put(k, v) => {
            out.push(OP_PUT);
            out.extend_from_slice(&len32(k.len()).to_le_bytes());
            out.extend_from_slice(k);
            out.extend_from_slice(&len32(v.len()).to_le_bytes());
            out.extend_from_slice(v);
        }
        LogOp::Delete(k) => {
            out.push(OP_DELETE);
            out.extend_from_slice(&len32(k.len()).to_le_bytes());
            out.extend_from_slice(k);
        }
        LogOp::SetIdentifier(s) => {
            out.push(OP_SET_IDENTIFIER);
            out.extend_from_slice(&len32(s.len()).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// Bytes the smallest operation takes: a kind and a length (a delete of the empty key).
const MIN_OP_BYTES: usize = 5;

/// The operations of a record body and its key count change, or why it is damaged. Every
/// field is checked against the limits a commit was held to before it was logged
/// (`max_key_bytes`, [`MAX_VALUE_BYTES`], [`MAX_IDENTIFIER_BYTES`] of UTF-8, a key count change
/// no larger than the puts and deletes, and only where `counted`, a version-3 log, allows one):
/// a body that breaks one was never written by this store, whatever its checksum says, and
/// none of it may be applied.
///
/// The operations come as where their bytes are: `base` plus their place in `body`.
fn decode_ops(
    body: &[u8],
    base: usize,
    max_key_bytes: usize,
    counted: bool,
) -> std::result::Result<BodyOps, String> {
    let mut at = 0usize;
    let span = |at: &mut usize, n: usize| -> std::result::Result<Range<usize>, String> {
        let end = at.checked_add(n).filter(|end| *end <= body.len());
        let start = *at;
        *at = end.ok_or_else(|| format!("a field of {n} bytes runs past the body"))?;
        Ok(base + start..base + *at)
    };
    let take = |at: &mut usize, n: usize| -> std::result::Result<&[u8], String> {
        let end = at.checked_add(n).filter(|end| *end <= body.len());
        let s = end
            .and_then(|end| body.get(*at..end))
            .ok_or_else(|| format!("a field of {n} bytes runs past the body"))?;
        *at += n;
        Ok(s)
    };
    let take_u32 = |at: &mut usize| -> std::result::Result<u32, String> {
        let b = take(at, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let as_len =
        |n: u32| usize::try_from(n).map_err(|_| format!("a length of {n} bytes does not fit in memory"));
    let mut count = as_len(take_u32(&mut at)?)?;
    // Each operation takes at least `MIN_OP_BYTES`: a count beyond that is damage, not an
    // allocation.
    if count > (body.len() - at) / MIN_OP_BYTES {
        return Err(format!("{count} operations cannot fit a body of {} bytes", body.len()));
    }
    let mut key_delta = None;
    if counted && count > 0 && body.get(at) == Some(&OP_KEY_COUNT) {
        let b = take(&mut at, KEY_COUNT_ENTRY_BYTES)?;
        // Two's complement, as written by `encode_body_start`.
        key_delta = Some(get_u64(b, 1) as i64);
        count -= 1;
    }
    let mut ops = Vec::with_capacity(count);
    let mut keyed = 0u64;
    for i in 0..count {
        let kind = take(&mut at, 1)?[0];
        let len = as_len(take_u32(&mut at)?)?;
        let limit = match kind {
            OP_PUT | OP_DELETE => max_key_bytes,
            OP_SET_IDENTIFIER => MAX_IDENTIFIER_BYTES,
            k => return Err(format!("operation {i} has unknown kind {k}")),
        };
        if len > limit {
            return Err(format!("operation {i} holds {len} bytes where at most {limit} may be"));
        }
        ops.push(match kind {
            OP_PUT => {
                let key = span(&mut at, len)?;
                let vlen = take_u32(&mut at)?;
                if u64::from(vlen) > MAX_VALUE_BYTES {
                    return Err(format!("operation {i} holds a value of {vlen} bytes"));
                }
                keyed += 1;
                OpAt::Put { key, value: span(&mut at, as_len(vlen)?)? }
            }
            OP_DELETE => {
                keyed += 1;
                OpAt::Delete { key: span(&mut at, len)? }
            }
            _ => OpAt::SetIdentifier(
                String::from_utf8(take(&mut at, len)?.to_vec())
                    .map_err(|_| format!("operation {i}: the identifier is not UTF-8"))?,
            ),
        });
    }
    if at != body.len() {
        return Err(format!("{} bytes follow the last operation", body.len() - at));
    }
    if let Some(delta) = key_delta
        && delta.unsigned_abs() > keyed
    {
        return Err(format!("a key count change of {delta} from {keyed} puts and deletes"));
    }
    Ok((ops, key_delta))
}

/// One operation of a record, by where its key and value are in the bytes it was read into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpAt {
    Put { key: Range<usize>, value: Range<usize> },
    Delete { key: Range<usize> },
    SetIdentifier(String),
}

impl OpAt {
    /// The operation, borrowing its key and value from `bytes` (what the record was read into).
    pub(crate) fn to_op<'b>(&self, bytes: &'b [u8]) -> LogOp<'b> {
        match self {
            OpAt::Put { key, value } => {
                LogOp::Put(Cow::Borrowed(&bytes[key.clone()]), Cow::Borrowed(&bytes[value.clone()]))
            }
            OpAt::Delete { key } => LogOp::Delete(Cow::Borrowed(&bytes[key.clone()])),
            OpAt::SetIdentifier(id) => LogOp::SetIdentifier(id.clone()),
        }
    }
}

/// One record read back.
#[derive(Debug)]
pub(crate) struct Record {
    pub seq: u64,
    pub ops: Vec<LogOp<'static>>,
}

/// A torn or damaged record: nothing from it on is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogDamage {
    pub offset: u64,
    pub reason: String,
}

/// A record, `None` at a clean end, or where and why the log is damaged.
pub(crate) type NextRecord = std::result::Result<Option<Record>, LogDamage>;

/// Reads records one at a time; never allocates more than the file holds.
pub(crate) struct LogReader {
    file: Arc<dyn FileIo>,
    offset: u64,
    len: u64,
    /// Longest key a record may hold: the store's own limit when the caller gives it
    /// ([`LogReader::with_max_key_bytes`]), else the largest any page size allows.
    max_key_bytes: usize,
    /// Whether records may hold a key count entry: a log of [`LOG_VERSION`]
    /// ([`LogReader::of_version`]).
    counted: bool,
    /// Whether a record header of zeros ends the log whatever follows it
    /// ([`LogReader::beside_a_writer`]).
    zeros_end: bool,
}

impl LogReader {
    /// A reader of the records from `start` (the header's length) to the end as it is now.
    pub(crate) fn new(file: Arc<dyn FileIo>, start: u64) -> Result<LogReader> {
        LogReader::with_max_key_bytes(file, start, max_key_bytes(MAX_PAGE_SIZE))
    }

    /// A reader that takes a record holding a key over `max_key_bytes` (the store's limit,
    /// [`max_key_bytes`] of its page size) as damaged, like one failing its checksum.
    pub(crate) fn with_max_key_bytes(
        file: Arc<dyn FileIo>,
        start: u64,
        max_key_bytes: usize,
    ) -> Result<LogReader> {
        let len = file.len()?;
        Ok(LogReader { file, offset: start, len, max_key_bytes, counted: true, zeros_end: false })
    }

    /// The reader for a log a live writer may be appending to (a read-only open): it writes its
    /// records into the zeros it wrote ahead, so bytes found after a header of zeros may be
    /// records written since that header was read. Such a header ends the log for this reader;
    /// it sees those records at its next refresh.
    pub(crate) fn beside_a_writer(self) -> LogReader {
        LogReader { zeros_end: true, ..self }
    }

    /// The reader for a log whose header says `version`: records of an older version than
    /// [`LOG_VERSION`] that hold a key count entry are damaged.
    pub(crate) fn of_version(self, version: u32) -> LogReader {
        LogReader { counted: version >= LOG_VERSION, ..self }
    }

    /// The log's length when the reader was made.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Whether a whole record whose checksum verifies and whose sequence number is in `seqs`
    /// starts anywhere after `from`: proof that acknowledged commits lie beyond a damaged record.
    /// A record is found by its sequence number first, so the search reads the rest of the log
    /// once and verifies only the candidates.
    pub(crate) fn record_beyond(
        &self,
        from: u64,
        seqs: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<u64>> {
        let start = from.saturating_add(1);
        if self.len <= start {
            return Ok(None);
        }
        let mut rest = vec![
            0u8;
            usize::try_from(self.len - start).map_err(|_| Error::LogCorrupted {
                offset: start,
                reason: "log too large for memory".into(),
            })?
        ];
        match self.file.read_exact_at(&mut rest, start) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            other => other?,
        }
        let mut at = 0usize;
        while at + RECORD_HEADER_BYTES <= rest.len() {
            let seq = get_u64(&rest, at + 8);
            if seqs.contains(&seq) {
                let body_len = get_u32(&rest, at) as usize;
                if let Some(body) = rest.get(at + RECORD_HEADER_BYTES..at + RECORD_HEADER_BYTES + body_len) {
                    let mut h = crc32fast::Hasher::new();
                    h.update(&rest[at..at + 4]);
                    h.update(&rest[at + 8..at + RECORD_HEADER_BYTES]);
                    h.update(body);
                    if h.finalize() == get_u32(&rest, at + 4) {
                        return Ok(Some(seq));
                    }
                }
            }
            at += 1;
        }
        Ok(None)
    }

    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The next record (its key count entry left out), `Ok(None)` at a clean end, or
    /// `Err(LogDamage)`.
    pub(crate) fn next_record(&mut self) -> Result<NextRecord> {
        let mut body = Vec::new();
        Ok(match self.next_record_into(&mut body)? {
            Ok(Some(RecordAt { seq, ops, .. })) => {
                let ops = ops.iter().map(|op| op.to_op(&body).into_owned()).collect();
                Ok(Some(Record { seq, ops }))
            }
            Ok(None) => Ok(None),
            Err(damage) => Err(damage),
        })
    }

    /// [`LogReader::next_record`] with the body appended to `bodies` and the operations saying
    /// where in `bodies` their keys and values are: nothing is copied but the body. On damage or
    /// at the end, `bodies` is as it was.
    pub(crate) fn next_record_into(&mut self, bodies: &mut Vec<u8>) -> Result<NextRecordAt> {
        let remaining = self.len.saturating_sub(self.offset);
        if remaining == 0 {
            return Ok(Ok(None));
        }
        let damaged = |offset: u64, reason: &str| Ok(Err(LogDamage { offset, reason: reason.to_string() }));
        // Zeros from here to the end are what the writer wrote ahead of its records (or a
        // record whose write never reached the disk): the end of the log.
        if remaining < RECORD_HEADER_BYTES as u64 {
            if self.zeros_to_end()? {
                return Ok(Ok(None));
            }
            return damaged(self.offset, "torn record header at the end of the log");
        }
        // A read-only reader shares the log with a writer that cuts it at each checkpoint: a
        // record that is gone by the time it is read ends the log there, like a torn one.
        let cut = |offset: u64| {
            Ok(Err(LogDamage { offset, reason: "the log was cut while it was read".to_string() }))
        };
        let mut head = [0u8; RECORD_HEADER_BYTES];
        match self.file.read_exact_at(&mut head, self.offset) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return cut(self.offset),
            other => other?,
        }
        if head == [0; RECORD_HEADER_BYTES] {
            if self.zeros_end || self.zeros_to_end()? {
                return Ok(Ok(None));
            }
            return damaged(self.offset, "a record header of zeros with bytes after it");
        }
        let body_len = get_u32(&head, 0) as u64;
        if body_len > remaining - RECORD_HEADER_BYTES as u64 {
            return damaged(self.offset, "record runs past the end of the log (torn write)");
        }
        // At most `remaining`, which is below the file's length.
        let body_len = usize::try_from(body_len).map_err(|_| Error::LogCorrupted {
            offset: self.offset,
            reason: "record too large for memory".into(),
        })?;
        let start = bodies.len();
        bodies.resize(start + body_len, 0);
        let decoded = self.read_body(&head, &mut bodies[start..], start);
        if !matches!(decoded, Ok(Ok(_))) {
            bodies.truncate(start);
        }
        // A key count change is checked against the operations and not used: the write
        // buffer counts its keys when asked (see the module comment).
        let (ops, _key_delta) = match decoded? {
            Ok(decoded) => decoded,
            Err(damage) => return Ok(Err(damage)),
        };
        self.offset += RECORD_HEADER_BYTES as u64 + body_len as u64;
        Ok(Ok(Some(RecordAt { seq: get_u64(&head, 8), ops })))
    }

    /// Whether the log holds only zeros from the reader's place to its end.
    fn zeros_to_end(&self) -> Result<bool> {
        let mut at = self.offset;
        let mut chunk = vec![0u8; RECORD_HEADER_BYTES];
        while at < self.len {
            let n = usize::try_from(self.len - at).map_or(chunk.len(), |left| left.min(chunk.len()));
            match self.file.read_exact_at(&mut chunk[..n], at) {
                // Cut shorter while read (a checkpoint): nothing more to read.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(true),
                other => other?,
            }
            if chunk[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            at += n as u64;
            if chunk.len() < ZERO_SCAN_BYTES {
                chunk = vec![0u8; ZERO_SCAN_BYTES];
            }
        }
        Ok(true)
    }

    /// Read the body of the record whose header is `head` into `body`, verify it and decode it
    /// (its operations' places offset by `base`).
    fn read_body(
        &self,
        head: &[u8; RECORD_HEADER_BYTES],
        body: &mut [u8],
        base: usize,
    ) -> Result<std::result::Result<BodyOps, LogDamage>> {
        let damaged = |reason: String| Ok(Err(LogDamage { offset: self.offset, reason }));
        match self.file.read_exact_at(body, self.offset + RECORD_HEADER_BYTES as u64) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return damaged("the log was cut while it was read".to_string());
            }
            other => other?,
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&head[0..4]);
        h.update(&head[8..]);
        h.update(body);
        if h.finalize() != get_u32(head, 4) {
            return damaged("record checksum mismatch".to_string());
        }
        match decode_ops(body, base, self.max_key_bytes, self.counted) {
            Ok(decoded) => Ok(Ok(decoded)),
            Err(why) => damaged(format!("record body does not decode: {why}")),
        }
    }
}

/// A body's operations by where their bytes are, and its key count change.
type BodyOps = (Vec<OpAt>, Option<i64>);

/// A record read by [`LogReader::next_record_into`]: its operations by where their bytes are.
#[derive(Debug)]
pub(crate) struct RecordAt {
    pub seq: u64,
    pub ops: Vec<OpAt>,
}

/// What [`LogReader::next_record_into`] gives.
pub(crate) type NextRecordAt = std::result::Result<Option<RecordAt>, LogDamage>;

#[cfg(test)]
mod tests {
    use super::*;

    /// [`decode_ops`] into operations that own their keys and values.
    fn decode_body(body: &[u8], max_key_bytes: usize, counted: bool) -> std::result::Result<Decoded, String> {
        let (ops, key_delta) = decode_ops(body, 0, max_key_bytes, counted)?;
        let ops = ops.into_iter().map(|op| op.to_op(body).into_owned()).collect();
        Ok(Decoded { ops, key_delta })
    }

    /// A decoded record body.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Decoded {
        ops: Vec<LogOp<'static>>,
        key_delta: Option<i64>,
    }

    proptest::proptest! {
        /// The fast sort orders exactly as a stable sort by key does: keys that share their first
        /// 8 bytes, keys shorter than 8 bytes (a key and itself followed by zeros), repeated
        /// keys (whose order is kept, told apart by value) and identifier changes.
        #[test]
        fn sort_by_key_is_a_stable_sort_by_key(
            raw in proptest::collection::vec((0u8..5, proptest::collection::vec(0u8..3, 0..10), 0u8..4), 0..60)
        ) {
            let ops: Vec<LogOp<'static>> = raw
                .into_iter()
                .enumerate()
                .map(|(i, (kind, key, tail))| {
                    // A shared 7-byte start for most keys, so the first 8 bytes often tie.
                    let key = if tail == 0 { key } else { [&b"shared_"[..], &key].concat() };
                    match kind {
                        0 => LogOp::Delete(key.into()),
                        1 => LogOp::SetIdentifier(format!("id{i}")),
                        _ => LogOp::Put(key.into(), Cow::Owned(i.to_le_bytes().to_vec())),
                    }
                })
                .collect();
            let mut fast = ops.clone();
            sort_by_key(&mut fast);
            let mut stable = ops;
            stable.sort_by(|a, b| a.key().cmp(&b.key()));
            proptest::prop_assert_eq!(fast, stable);
        }
    }

    #[test]
    fn records_round_trip() {
        let ops = vec![
            LogOp::Put(b"k".as_slice().into(), vec![0, 1, 2].into()),
            LogOp::Delete(b"gone".to_vec().into()),
            LogOp::SetIdentifier("Idé".into()),
            LogOp::Put(Cow::Borrowed(&[]), Cow::Borrowed(&[])),
        ];
        let mut out = Vec::new();
        encode_record(42, &ops, None, &mut out).expect("a small record");
        assert_eq!(out.len(), record_len(&ops, None));
        let body = &out[RECORD_HEADER_BYTES..];
        assert_eq!(decode_body(body, 315, true), Ok(Decoded { ops: ops.clone(), key_delta: None }));
        assert_eq!(decode_body(body, 315, false), Ok(Decoded { ops: ops.clone(), key_delta: None }));
        assert_eq!(get_u64(&out, 8), 42);
        for delta in [-3, -1, 0, 2, 3] {
            let mut out = Vec::new();
            encode_record(43, &ops, Some(delta), &mut out).expect("a small record");
            assert_eq!(out.len(), record_len(&ops, Some(delta)));
            let body = &out[RECORD_HEADER_BYTES..];
            assert_eq!(
                decode_body(body, 315, true),
                Ok(Decoded { ops: ops.clone(), key_delta: Some(delta) })
            );
            // A version-2 log never held one: the entry is an unknown operation there.
            assert!(decode_body(body, 315, false).is_err());
        }
    }

    /// The key count entry: first, once, and no larger than the puts and deletes beside it.
    #[test]
    fn key_count_entries_out_of_place_or_over_their_commit_do_not_decode() {
        let ops =
            vec![LogOp::Put(b"k".as_slice().into(), vec![1].into()), LogOp::Delete(b"d".as_slice().into())];
        let body = |ops: &[LogOp<'_>], delta| {
            let mut out = Vec::new();
            encode_record(1, ops, delta, &mut out).expect("a small record");
            out.split_off(RECORD_HEADER_BYTES)
        };
        assert!(decode_body(&body(&ops, Some(2)), 315, true).is_ok());
        assert!(decode_body(&body(&ops, Some(3)), 315, true).is_err());
        assert!(decode_body(&body(&ops, Some(-3)), 315, true).is_err());
        assert!(decode_body(&body(&ops, Some(i64::MIN)), 315, true).is_err());
        // An identifier change counts for nothing.
        assert!(decode_body(&body(&[LogOp::SetIdentifier("x".into())], Some(1)), 315, true).is_err());
        // Twice, or after an operation: the entry count and the bytes agree, the order does not.
        let once = body(&ops, Some(1));
        let entry = &once[4..4 + KEY_COUNT_ENTRY_BYTES];
        let mut twice = once.clone();
        twice[0..4].copy_from_slice(&4u32.to_le_bytes());
        twice.splice(4..4, entry.iter().copied());
        assert!(decode_body(&twice, 315, true).is_err());
        let mut after = body(&ops, None);
        after[0..4].copy_from_slice(&3u32.to_le_bytes());
        after.extend_from_slice(entry);
        assert!(decode_body(&after, 315, true).is_err());
    }

    #[test]
    fn a_commit_over_the_length_field_is_refused_before_anything_is_written() {
        // Zeroed and never touched: the allocator maps it lazily, so this costs no memory.
        let half = vec![0u8; 1 << 31];
        let ops = vec![
            LogOp::Put(b"a".as_slice().into(), Cow::Borrowed(&half)),
            LogOp::Put(b"b".as_slice().into(), Cow::Borrowed(&half)),
        ];
        let mut out = b"earlier records".to_vec();
        let refused = encode_record(7, &ops, None, &mut out);
        assert!(
            matches!(refused, Err(Error::CommitTooLarge { bytes, max }) if bytes > 1 << 32 && max == MAX_RECORD_BODY_BYTES),
            "{refused:?}"
        );
        assert_eq!(out, b"earlier records", "nothing was appended");
    }

    #[test]
    fn hostile_bodies_do_not_decode() {
        assert!(decode_body(&[], 315, true).is_err());
        assert!(decode_body(&[255, 255, 255, 255], 315, true).is_err());
        assert!(decode_body(&[1, 0, 0, 0, 1, 255, 255, 255, 255], 315, true).is_err());
        assert!(decode_body(&[1, 0, 0, 0, 9, 0, 0, 0, 0], 315, true).is_err());
    }

    /// A body that decodes as the format goes but holds what no commit could: refused whole.
    #[test]
    fn bodies_over_the_limits_do_not_decode() {
        let body = |ops: &[LogOp<'_>]| {
            let mut out = Vec::new();
            encode_record(1, ops, None, &mut out).expect("a small record");
            out.split_off(RECORD_HEADER_BYTES)
        };
        let key = |n: usize| vec![b'k'; n];
        assert!(decode_body(&body(&[LogOp::Put(key(315).into(), vec![1].into())]), 315, true).is_ok());
        assert!(decode_body(&body(&[LogOp::Put(key(316).into(), vec![1].into())]), 315, true).is_err());
        assert!(decode_body(&body(&[LogOp::Delete(key(316).into())]), 315, true).is_err());
        let id = |s: String| body(&[LogOp::SetIdentifier(s)]);
        assert!(decode_body(&id("i".repeat(64)), 315, true).is_ok());
        assert!(decode_body(&id("i".repeat(65)), 315, true).is_err());
        // 63 bytes and a two-byte character: a release build used to cut it inside the character.
        assert!(decode_body(&id(format!("{}é", "i".repeat(63))), 315, true).is_err());
        let mut not_utf8 = id("idid".into());
        let n = not_utf8.len();
        not_utf8[n - 1] = 0xff;
        assert!(decode_body(&not_utf8, 315, true).is_err());
        let mut counted = body(&[LogOp::Delete(key(1).into())]);
        counted[0..4].copy_from_slice(&2u32.to_le_bytes());
        assert!(decode_body(&counted, 315, true).is_err());
    }

    #[test]
    fn header_binds_the_file_id_and_names_its_checkpoint() {
        let meta = Meta { checkpoint_id: 9, root: 1, page_count: 2, depth: 1, ..Meta::default() };
        let h = encode_header(77, &meta);
        let d = decode_header(&h).expect("a whole header");
        assert_eq!(
            (d.version, d.file_id, d.follows.as_ref(), d.len),
            (LOG_VERSION, 77, Some(&meta), LOG_HEADER_BYTES)
        );
        // Version 2 has the same header; its records hold no key count.
        let mut v2 = h;
        put_u32(&mut v2, 8, 2);
        let crc = crc32fast::hash(&v2[..LOG_HEADER_CRC]);
        put_u32(&mut v2, LOG_HEADER_CRC, crc);
        assert_eq!(decode_header(&v2).map(|d| d.version), Some(2));
        for at in [17, 24, 40, 300, 509] {
            let mut bad = h;
            bad[at] ^= 1;
            assert_eq!(decode_header(&bad), None, "flip at {at}");
        }
        assert_eq!(decode_header(&h[..100]), None, "a torn header");
        assert_eq!(decode_header(&[0u8; LOG_HEADER_LEN]), None);
    }

    #[test]
    fn version_1_headers_are_read() {
        let mut b = [0u8; 32];
        b[0..8].copy_from_slice(&LOG_MAGIC);
        put_u32(&mut b, 8, 1);
        put_u64(&mut b, 16, 5);
        let crc = crc32fast::hash(&b[..28]);
        put_u32(&mut b, 28, crc);
        assert_eq!(decode_header(&b), Some(LogHeader { version: 1, file_id: 5, follows: None, len: 32 }));
    }
}
