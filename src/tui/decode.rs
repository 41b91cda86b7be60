//! Value decoders: base64, gzip, zstd, MessagePack and CBOR. Compressed and encoded values are
//! shown as what they hold (pretty JSON, text or hex); MessagePack and CBOR documents as pretty
//! JSON. Auto mode picks a decoder only where the bytes say so without doubt (the gzip and zstd
//! magic numbers, CBOR's self-describe tag); `t` chooses any of them.
//!
//! Every decoder is bounded: at most [`DECODE_MAX_OUTPUT`] bytes come out, so a small value that
//! expands enormously cannot take the memory.

use std::io::Read;

use base64::Engine as _;
use serde_json::{Map, Number, Value};

/// Decoded output kept at most.
pub(crate) const DECODE_MAX_OUTPUT: usize = 16 << 20;
/// A value longer than this is not read whole for decoding.
pub(crate) const DECODE_MAX_INPUT: u64 = 16 << 20;

/// A way to decode a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoder {
    Base64,
    Gzip,
    Zstd,
    MessagePack,
    Cbor,
}

/// What decoding gave.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decoded {
    /// Bytes (base64, gzip, zstd): shown as JSON, text or hex by looking at them.
    Bytes(Vec<u8>),
    /// A document (MessagePack, CBOR), as JSON.
    Json(Value),
}

/// The result of decoding, with a note when the output was cut at [`DECODE_MAX_OUTPUT`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Output {
    pub decoded: Decoded,
    pub cut: bool,
}

impl Decoder {
    pub(crate) const ALL: [Decoder; 5] =
        [Decoder::Base64, Decoder::Gzip, Decoder::Zstd, Decoder::MessagePack, Decoder::Cbor];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Decoder::Base64 => "base64",
            Decoder::Gzip => "gzip",
            Decoder::Zstd => "zstd",
            Decoder::MessagePack => "msgpack",
            Decoder::Cbor => "cbor",
        }
    }

    /// The decoder the bytes ask for unmistakably, if any.
    pub(crate) fn detect(bytes: &[u8]) -> Option<Decoder> {
        if bytes.starts_with(&[0x1f, 0x8b, 0x08]) {
            Some(Decoder::Gzip)
        } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Decoder::Zstd)
        } else if bytes.starts_with(&[0xd9, 0xd9, 0xf7]) {
            Some(Decoder::Cbor)
        } else {
            None
        }
    }

    pub(crate) fn decode(self, bytes: &[u8]) -> Result<Output, String> {
        match self {
            Decoder::Base64 => {
                let text: Vec<u8> = bytes.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
                let engine = if text.contains(&b'-') || text.contains(&b'_') {
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD
                } else {
                    &base64::engine::general_purpose::STANDARD_NO_PAD
                };
                let trimmed = text.strip_suffix(b"==").or_else(|| text.strip_suffix(b"=")).unwrap_or(&text);
                let decoded = engine.decode(trimmed).map_err(|e| format!("not base64: {e}"))?;
                Ok(Output { decoded: Decoded::Bytes(decoded), cut: false })
            }
            Decoder::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(bytes), "gzip"),
            Decoder::Zstd => {
                let decoder =
                    ruzstd::decoding::StreamingDecoder::new(bytes).map_err(|e| format!("not zstd: {e}"))?;
                read_bounded(decoder, "zstd")
            }
            Decoder::MessagePack => {
                let mut reader = bytes;
                let value =
                    rmpv::decode::read_value(&mut reader).map_err(|e| format!("not MessagePack: {e}"))?;
                if !reader.is_empty() {
                    return Err(format!("not MessagePack: {} bytes after the document", reader.len()));
                }
                Ok(Output { decoded: Decoded::Json(msgpack_to_json(value)), cut: false })
            }
            Decoder::Cbor => {
                let value: ciborium::Value =
                    ciborium::de::from_reader(bytes).map_err(|e| format!("not CBOR: {e}"))?;
                Ok(Output { decoded: Decoded::Json(cbor_to_json(value)), cut: false })
            }
        }
    }
}

/// Reads a decompressing reader up to the output bound; a stream that breaks off after some
/// output keeps what it gave.
fn read_bounded(reader: impl Read, name: &str) -> Result<Output, String> {
    let mut out = Vec::new();
    let limit = u64::try_from(DECODE_MAX_OUTPUT).unwrap_or(u64::MAX) + 1;
    let result = reader.take(limit).read_to_end(&mut out);
    let cut = out.len() > DECODE_MAX_OUTPUT;
    out.truncate(DECODE_MAX_OUTPUT);
    match result {
        Ok(_) => Ok(Output { decoded: Decoded::Bytes(out), cut }),
        Err(e) if out.is_empty() => Err(format!("not {name}: {e}")),
        // A cut preview or a damaged tail: show what came out.
        Err(_) => Ok(Output { decoded: Decoded::Bytes(out), cut: true }),
    }
}

/// Bytes inside a document, as JSON shows them: text when UTF-8, else `"hex:…"`.
fn bytes_json(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            Value::String(format!("hex:{hex}"))
        }
    }
}

fn float_json(f: f64) -> Value {
    Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
}

/// A map key as JSON needs it: a string.
fn key_string(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn msgpack_to_json(value: rmpv::Value) -> Value {
    match value {
        rmpv::Value::Nil => Value::Null,
        rmpv::Value::Boolean(b) => Value::Bool(b),
        rmpv::Value::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Value::Number(u.into()),
            (None, Some(s)) => Value::Number(s.into()),
            _ => Value::String(i.to_string()),
        },
        rmpv::Value::F32(f) => float_json(f64::from(f)),
        rmpv::Value::F64(f) => float_json(f),
        rmpv::Value::String(s) => match s.as_str() {
            Some(text) => Value::String(text.to_owned()),
            None => bytes_json(s.as_bytes()),
        },
        rmpv::Value::Binary(b) => bytes_json(&b),
        rmpv::Value::Array(items) => Value::Array(items.into_iter().map(msgpack_to_json).collect()),
        rmpv::Value::Map(pairs) => Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (key_string(msgpack_to_json(k)), msgpack_to_json(v)))
                .collect::<Map<_, _>>(),
        ),
        rmpv::Value::Ext(kind, data) => {
            let mut object = Map::new();
            object.insert("ext".to_owned(), Value::Number(kind.into()));
            object.insert("data".to_owned(), bytes_json(&data));
            Value::Object(object)
        }
    }
}

fn cbor_to_json(value: ciborium::Value) -> Value {
    match value {
        ciborium::Value::Null => Value::Null,
        ciborium::Value::Bool(b) => Value::Bool(b),
        ciborium::Value::Integer(i) => {
            let n = i128::from(i);
            match (u64::try_from(n), i64::try_from(n)) {
                (Ok(u), _) => Value::Number(u.into()),
                (_, Ok(s)) => Value::Number(s.into()),
                _ => Value::String(n.to_string()),
            }
        }
        ciborium::Value::Float(f) => float_json(f),
        ciborium::Value::Text(s) => Value::String(s),
        ciborium::Value::Bytes(b) => bytes_json(&b),
        // The self-describe tag (55799) says only "this is CBOR".
        ciborium::Value::Tag(55799, inner) => cbor_to_json(*inner),
        ciborium::Value::Tag(tag, inner) => {
            let mut object = Map::new();
            object.insert("tag".to_owned(), Value::Number(tag.into()));
            object.insert("value".to_owned(), cbor_to_json(*inner));
            Value::Object(object)
        }
        ciborium::Value::Array(items) => Value::Array(items.into_iter().map(cbor_to_json).collect()),
        ciborium::Value::Map(pairs) => Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (key_string(cbor_to_json(k)), cbor_to_json(v)))
                .collect::<Map<_, _>>(),
        ),
        _ => Value::String("(unknown CBOR item)".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn compressed_values_come_out_whole() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"{\"a\": 1}").expect("write");
        let gz = gz.finish().expect("finish");
        assert_eq!(Decoder::detect(&gz), Some(Decoder::Gzip));
        assert_eq!(Decoder::Gzip.decode(&gz).map(|o| o.decoded), Ok(Decoded::Bytes(b"{\"a\": 1}".to_vec())));
        assert!(Decoder::Gzip.decode(b"plain").is_err());
        // A gzip cut in the middle shows what it has.
        let cut = Decoder::Gzip.decode(&gz[..gz.len() - 4]).expect("partial");
        assert!(cut.cut);
    }

    #[test]
    fn zstd_frames() {
        // "hello" compressed by the zstd command (level 3).
        let frame = [
            0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x29, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0xf6, 0xbb,
            0x57, 0x84,
        ];
        assert_eq!(Decoder::detect(&frame), Some(Decoder::Zstd));
        assert_eq!(Decoder::Zstd.decode(&frame).map(|o| o.decoded), Ok(Decoded::Bytes(b"hello".to_vec())));
    }

    #[test]
    fn documents_become_json() {
        // {"a": [1, -2, true, nil], "b": bin(01 ff)}
        let msgpack = [0x82, 0xa1, b'a', 0x94, 0x01, 0xfe, 0xc3, 0xc0, 0xa1, b'b', 0xc4, 0x02, 0x01, 0xff];
        let json = serde_json::json!({"a": [1, -2, true, null], "b": "hex:01ff"});
        assert_eq!(Decoder::MessagePack.decode(&msgpack).map(|o| o.decoded), Ok(Decoded::Json(json)));
        assert!(Decoder::MessagePack.decode(&[0x01, 0x02]).is_err(), "trailing bytes");
        // 55799({"x": 1.5})
        let cbor = [0xd9, 0xd9, 0xf7, 0xa1, 0x61, b'x', 0xf9, 0x3e, 0x00];
        assert_eq!(Decoder::detect(&cbor), Some(Decoder::Cbor));
        assert_eq!(
            Decoder::Cbor.decode(&cbor).map(|o| o.decoded),
            Ok(Decoded::Json(serde_json::json!({"x": 1.5})))
        );
    }

    #[test]
    fn base64_both_alphabets() {
        assert_eq!(
            Decoder::Base64.decode(b"aGVsbG8=\n").map(|o| o.decoded),
            Ok(Decoded::Bytes(b"hello".to_vec()))
        );
        assert_eq!(Decoder::Base64.decode(b"-_8").map(|o| o.decoded), Ok(Decoded::Bytes(vec![0xfb, 0xff])));
        assert!(Decoder::Base64.decode(b"not base64!").is_err());
    }
}
