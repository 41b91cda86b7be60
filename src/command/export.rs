//! `EXPORT` and `IMPORT`: a store as JSON lines.
//!
//! ```text
//! {"format":"wind-kvstore-export","version":1,"identifier":"MyAppDB"}     line 1: the header
//! {"key":"user:1","value":"alice"}                                         one line per pair,
//! {"key":{"base64":"AP8="},"value":"binary key"}                            in key order
//! ```
//!
//! Keys and values are byte strings in the JSON encoding of [`super::literal`]: a JSON string
//! when the bytes are valid UTF-8, otherwise `{"base64": "..."}` (standard alphabet, padded).
//! Lines end with `\n`; blank lines are ignored; fields other than the ones above are ignored, so
//! later versions can add some. A reader refuses a header whose `format` differs or whose
//! `version` it does not know.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::error::CommandError;
use super::literal::{bytes_from_json, bytes_to_json};
use crate::{KVStore, WriteBatch};

/// The `format` field of the header line.
pub const EXPORT_FORMAT: &str = "wind-kvstore-export";
/// The `version` field of the header line this build writes and reads.
pub const EXPORT_VERSION: u64 = 1;

/// `IMPORT` commits after this many pairs or [`IMPORT_BATCH_BYTES`], whichever comes first: few
/// enough syncs to load fast, small enough batches to bound memory.
const IMPORT_BATCH_PAIRS: usize = 10_000;
const IMPORT_BATCH_BYTES: usize = 16 << 20;

fn file_error(path: &Path) -> impl FnOnce(io::Error) -> CommandError + '_ {
    move |source| CommandError::File { path: path.to_path_buf(), source }
}

/// Writes every pair of `store` to `path`, through a `.partial` file put in place when complete
/// and synced. Returns the number of pairs.
///
/// With `replace`, an existing `path` (and `.partial`) is replaced. Without it, nothing that
/// exists is touched: the `.partial` file must not exist, and it is linked to `path` (which
/// fails if `path` exists) rather than renamed over it.
pub(crate) fn export(store: &KVStore, path: &Path, replace: bool) -> Result<u64, CommandError> {
    let Some(file_name) = path.file_name() else {
        return Err(file_error(path)(io::Error::new(io::ErrorKind::InvalidInput, "not a file name")));
    };
    let mut partial_name = file_name.to_os_string();
    partial_name.push(".partial");
    let partial = path.with_file_name(partial_name);
    if !replace && std::fs::symlink_metadata(path).is_ok() {
        return Err(file_error(path)(io::Error::new(io::ErrorKind::AlreadyExists, "the file exists")));
    }
    let file = if replace {
        File::create(&partial)
    } else {
        File::options().write(true).create_new(true).open(&partial)
    };
    // The `.partial` file is ours from here: removed if anything below fails.
    let file = file.map_err(file_error(&partial))?;
    let result = write_partial(store, file, &partial).and_then(|count| {
        let placed =
            if replace { std::fs::rename(&partial, path) } else { std::fs::hard_link(&partial, path) };
        placed.map_err(file_error(path))?;
        Ok(count)
    });
    if result.is_err() || !replace {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn write_partial(store: &KVStore, file: File, partial: &Path) -> Result<u64, CommandError> {
    let mut out = BufWriter::new(file);
    let count =
        write_export(&mut out, store.get_identifier(), store.iter().map(|r| r.map_err(CommandError::from)))
            .map_err(|e| match e {
            WriteError::Io(source) => CommandError::File { path: partial.to_path_buf(), source },
            WriteError::Source(e) => e,
        })?;
    let file = out.into_inner().map_err(|e| file_error(partial)(e.into_error()))?;
    file.sync_all().map_err(file_error(partial))?;
    Ok(count)
}

pub(crate) enum WriteError<E> {
    Io(io::Error),
    Source(E),
}

/// Writes the header and one line per pair; returns the number of pairs.
pub(crate) fn write_export<E>(
    out: &mut impl Write,
    identifier: &str,
    pairs: impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), E>>,
) -> Result<u64, WriteError<E>> {
    let header = json!({"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "identifier": identifier});
    write_line(out, &header).map_err(WriteError::Io)?;
    let mut count = 0u64;
    for pair in pairs {
        let (key, value) = pair.map_err(WriteError::Source)?;
        write_line(out, &json!({"key": bytes_to_json(&key), "value": bytes_to_json(&value)}))
            .map_err(WriteError::Io)?;
        count += 1;
    }
    out.flush().map_err(WriteError::Io)?;
    Ok(count)
}

fn write_line(out: &mut impl Write, value: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// Adds the pairs of the export file at `path` to `store`. The file is read twice: once to check
/// every line, so a malformed file writes nothing, then to write the pairs in batches. Returns the
/// number of pairs and the identifier the file records.
pub(crate) fn import(store: &KVStore, path: &Path) -> Result<(u64, String), CommandError> {
    let open = || File::open(path).map(BufReader::new).map_err(file_error(path));
    read_export(open()?, path, |_, _| Ok(()))?;

    let mut batch = WriteBatch::new();
    let mut batch_bytes = 0usize;
    let (count, identifier) = read_export(open()?, path, |key, value| {
        batch_bytes += key.len() + value.len();
        batch.put(key, value);
        if batch.len() >= IMPORT_BATCH_PAIRS || batch_bytes >= IMPORT_BATCH_BYTES {
            store.write(std::mem::take(&mut batch))?;
            batch_bytes = 0;
        }
        Ok(())
    })?;
    if !batch.is_empty() {
        store.write(batch)?;
    }
    Ok((count, identifier))
}

/// Reads an export from `input`, calling `pair` for each record in order. Returns the number of
/// pairs and the header's identifier.
pub(crate) fn read_export(
    mut input: impl BufRead,
    path: &Path,
    mut pair: impl FnMut(Vec<u8>, Vec<u8>) -> Result<(), CommandError>,
) -> Result<(u64, String), CommandError> {
    let bad =
        |line: u64, message: String| CommandError::BadImport { path: PathBuf::from(path), line, message };
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut identifier: Option<String> = None;
    let mut count = 0u64;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf).map_err(file_error(path))? == 0 {
            break;
        }
        line_no += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value: Value =
            serde_json::from_slice(&buf).map_err(|e| bad(line_no, format!("not JSON: {e}")))?;
        match &identifier {
            None => identifier = Some(parse_header(&value).map_err(|m| bad(line_no, m))?),
            Some(_) => {
                let (key, value) = parse_record(&value).map_err(|m| bad(line_no, m))?;
                pair(key, value)?;
                count += 1;
            }
        }
    }
    match identifier {
        Some(identifier) => Ok((count, identifier)),
        None => Err(bad(line_no.max(1), "empty file: expected the export header".to_owned())),
    }
}

fn parse_header(value: &Value) -> Result<String, String> {
    if value.get("format").and_then(Value::as_str) != Some(EXPORT_FORMAT) {
        return Err(format!(
            "not a Wind-KVStore export: the first line must have \"format\": \"{EXPORT_FORMAT}\""
        ));
    }
    match value.get("version").and_then(Value::as_u64) {
        Some(EXPORT_VERSION) => {}
        Some(other) => {
            return Err(format!(
                "export format version {other} is not supported (this build reads {EXPORT_VERSION})"
            ));
        }
        None => return Err("the header has no \"version\" number".to_owned()),
    }
    match value.get("identifier") {
        Some(Value::String(identifier)) => Ok(identifier.clone()),
        _ => Err("the header has no \"identifier\" string".to_owned()),
    }
}

fn parse_record(value: &Value) -> Result<(Vec<u8>, Vec<u8>), String> {
    let field = |name: &str| {
        let field = value.get(name).ok_or_else(|| format!("the record has no \"{name}\""))?;
        bytes_from_json(field).map_err(|e| format!("\"{name}\": {e}"))
    };
    Ok((field("key")?, field("value")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn export_to_string(identifier: &str, pairs: &[(Vec<u8>, Vec<u8>)]) -> String {
        let mut out = Vec::new();
        let iter = pairs.iter().cloned().map(Ok::<_, ()>);
        let count = write_export(&mut out, identifier, iter).ok().expect("writes");
        assert_eq!(count, pairs.len() as u64);
        String::from_utf8(out).expect("exports are UTF-8")
    }

    type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

    fn read_back(text: &str) -> Result<(String, Pairs), CommandError> {
        let mut pairs = Vec::new();
        let (count, identifier) = read_export(text.as_bytes(), Path::new("t.jsonl"), |k, v| {
            pairs.push((k, v));
            Ok(())
        })?;
        assert_eq!(count, pairs.len() as u64);
        Ok((identifier, pairs))
    }

    fn bad_line(text: &str) -> (u64, String) {
        match read_back(text) {
            Err(CommandError::BadImport { line, message, .. }) => (line, message),
            other => panic!("expected BadImport, got {other:?}"),
        }
    }

    #[test]
    fn the_documented_shape() {
        let text = export_to_string(
            "MyAppDB",
            &[(b"user:1".to_vec(), b"alice".to_vec()), (vec![0, 255], b"binary key".to_vec())],
        );
        assert_eq!(
            text,
            "{\"format\":\"wind-kvstore-export\",\"identifier\":\"MyAppDB\",\"version\":1}\n\
             {\"key\":\"user:1\",\"value\":\"alice\"}\n\
             {\"key\":{\"base64\":\"AP8=\"},\"value\":\"binary key\"}\n"
        );
    }

    #[test]
    fn bad_files_name_the_line() {
        assert_eq!(bad_line("").0, 1);
        assert!(
            bad_line("{\"format\":\"other\",\"version\":1,\"identifier\":\"x\"}\n")
                .1
                .contains("not a Wind-KVStore export")
        );
        assert!(
            bad_line("{\"format\":\"wind-kvstore-export\",\"version\":2,\"identifier\":\"x\"}\n")
                .1
                .contains("version 2")
        );
        let header = "{\"format\":\"wind-kvstore-export\",\"version\":1,\"identifier\":\"x\"}\n";
        let (line, message) = bad_line(&format!("{header}\n{{\"key\":\"a\"}}\n"));
        assert_eq!((line, message.as_str()), (3, "the record has no \"value\""));
        let (line, message) =
            bad_line(&format!("{header}{{\"key\":\"a\",\"value\":{{\"base64\":\"***\"}}}}\n"));
        assert_eq!(line, 2);
        assert!(message.starts_with("\"value\": bad base64"), "{message}");
        assert!(bad_line(&format!("{header}not json\n")).1.starts_with("not JSON"));
    }

    #[test]
    fn blank_lines_crlf_and_extra_fields_are_accepted() {
        let text = "{\"format\":\"wind-kvstore-export\",\"version\":1,\"identifier\":\"x\",\"note\":1}\r\n\r\n{\"key\":\"a\",\"value\":\"b\",\"ttl\":null}\r\n";
        let (identifier, pairs) = read_back(text).unwrap();
        assert_eq!(identifier, "x");
        assert_eq!(pairs, vec![(b"a".to_vec(), b"b".to_vec())]);
    }

    proptest! {
        #[test]
        fn any_pairs_round_trip(
            identifier in "\\PC{0,20}",
            pairs in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..40), proptest::collection::vec(any::<u8>(), 0..40)),
                0..20,
            ),
        ) {
            let text = export_to_string(&identifier, &pairs);
            let (read_identifier, read_pairs) = read_back(&text).unwrap();
            prop_assert_eq!(read_identifier, identifier);
            prop_assert_eq!(read_pairs, pairs);
        }
    }
}
