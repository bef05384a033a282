//! The wire form of records: the signed envelope and the CBOR payload.
//!
//! serde_cbor decodes records here (and size-checked sync messages in
//! `sync::messages`; deny.toml keeps it inside this crate). Before serde sees a payload, a
//! bounded scan checks its structure (depth, item counts, string lengths, the
//! CBOR subset allowed), so that decoding cost and memory are bounded by the
//! limits below whatever a peer sends.

use sha2::{Digest, Sha256};

use crate::error::RecordError;
use crate::keys::{PublicKey, SecretKey};
use crate::model::{FixedBytes, Payload, RecordHash};

/// The envelope format of the kinds of protocol version 1 (certificates,
/// revocations, listings, withdrawals).
pub const ENVELOPE_FORMAT: u64 = 1;
/// The envelope format of the lending kinds: older nodes, which know only
/// format 1, ignore these records without penalising the sender.
pub const LENDING_FORMAT: u64 = 2;
/// The largest envelope accepted, in bytes.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;
/// The deepest nesting of maps and arrays in a payload.
pub const MAX_DEPTH: usize = 6;
/// The most entries in any one map or array of a payload.
pub const MAX_CONTAINER_ITEMS: usize = 64;
/// The longest text string anywhere in a payload, in bytes (fields have
/// tighter limits of their own, see [`crate::rules`]).
pub const MAX_TEXT_BYTES: usize = 4096;
/// The longest byte string in a payload (keys, ids, hashes).
pub const MAX_BYTE_STRING: usize = 64;
/// The longest map key.
pub const MAX_KEY_BYTES: usize = 32;
/// Prepended to the payload bytes to form the signed message, so a Mutua
/// signature can never be replayed as a signature over anything else.
pub const SIGNING_DOMAIN: &[u8] = b"mutua-record-v1:";
/// The domain of format-2 envelopes: the format is part of what is signed.
pub const SIGNING_DOMAIN_V2: &[u8] = b"mutua-record-v2:";

/// A record that decoded, and whose signature verified under the key its
/// payload names. Whether it is valid *now* and whether its author is a member
/// are separate checks ([`crate::rules::check_record`],
/// [`crate::membership::check_membership`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRecord {
    envelope: Vec<u8>,
    signer: PublicKey,
    payload: Payload,
    hash: RecordHash,
}

impl SignedRecord {
    /// The exact envelope bytes: what is stored, gossiped and hashed.
    pub fn bytes(&self) -> &[u8] {
        &self.envelope
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.envelope
    }

    pub fn signer(&self) -> &PublicKey {
        &self.signer
    }

    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// SHA-256 of the envelope bytes.
    pub fn hash(&self) -> &RecordHash {
        &self.hash
    }
}

/// Encodes and signs a payload. The payload must pass the structural and
/// field rules a receiver applies (time rules excepted: the caller checks
/// those with its clock), so that a node never publishes what others reject.
pub fn seal(key: &SecretKey, payload: &Payload) -> Result<SignedRecord, RecordError> {
    let signer = key.public();
    if payload.expected_signer() != &signer {
        return Err(RecordError::SignerMismatch {
            field: signer_field(payload),
        });
    }
    let payload_bytes = encode_payload(payload)?;
    scan_payload(&payload_bytes)?;
    crate::rules::check_fields(payload)?;
    let format = payload.envelope_format();
    let signature = key.sign(&signing_input_for(format, &payload_bytes));
    let envelope = encode_envelope_for(format, &signer, &payload_bytes, &signature);
    if envelope.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge {
            size: envelope.len(),
            max: MAX_RECORD_BYTES,
        });
    }
    Ok(SignedRecord {
        hash: hash_envelope(&envelope),
        envelope,
        signer,
        payload: payload.clone(),
    })
}

/// Decodes an envelope and verifies its signature with `verify_strict`.
///
/// Checks, in order (cheap before expensive): size, envelope structure and
/// canonical form, payload structure, payload fields, signer, signature.
pub fn open(bytes: &[u8]) -> Result<SignedRecord, RecordError> {
    let (format, signer, payload_bytes, signature) = decode_envelope_with_format(bytes)?;
    let payload = decode_payload_of_format(format, payload_bytes)?;
    // The field rules decode and check the expected signer's key already.
    let key = crate::rules::check_fields_and_signer(&payload)?;
    if payload.expected_signer() != &signer {
        return Err(RecordError::SignerMismatch {
            field: signer_field(&payload),
        });
    }
    verify_with(&key, &signing_input_for(format, payload_bytes), &signature)?;
    Ok(SignedRecord {
        envelope: bytes.to_vec(),
        signer,
        payload,
        hash: hash_envelope(bytes),
    })
}

/// Checks the signature of a format-1 envelope with `verify_strict`, which
/// also refuses non-canonical signature scalars and small-order components.
pub fn verify(
    signer: &PublicKey,
    payload_bytes: &[u8],
    signature: &[u8; 64],
) -> Result<(), RecordError> {
    verify_with(
        &signer.verifying_key("signer")?,
        &signing_input(payload_bytes),
        signature,
    )
}

fn verify_with(
    key: &ed25519_dalek::VerifyingKey,
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), RecordError> {
    let signature = ed25519_dalek::Signature::from_bytes(signature);
    key.verify_strict(message, &signature)
        .map_err(|_| RecordError::BadSignature)
}

/// The message a format-1 envelope's signature covers.
pub fn signing_input(payload_bytes: &[u8]) -> Vec<u8> {
    signing_input_for(ENVELOPE_FORMAT, payload_bytes)
}

/// The message an envelope's signature covers: the format's domain, then
/// the payload bytes.
pub fn signing_input_for(format: u64, payload_bytes: &[u8]) -> Vec<u8> {
    let domain = if format == LENDING_FORMAT {
        SIGNING_DOMAIN_V2
    } else {
        SIGNING_DOMAIN
    };
    let mut message = Vec::with_capacity(domain.len() + payload_bytes.len());
    message.extend_from_slice(domain);
    message.extend_from_slice(payload_bytes);
    message
}

pub fn hash_envelope(envelope: &[u8]) -> RecordHash {
    FixedBytes(Sha256::digest(envelope).into())
}

fn signer_field(payload: &Payload) -> String {
    let role = match payload {
        Payload::Certificate(_) | Payload::Revocation(_) => "issuer",
        _ => "author",
    };
    format!("{}.{role}", payload.kind_name())
}

/// Envelope: a CBOR array of four items, in the shortest encoding of each
/// header: `[format: uint, signer: bstr .size 32, payload: bstr, signature: bstr .size 64]`.
pub fn encode_envelope(signer: &PublicKey, payload: &[u8], signature: &[u8; 64]) -> Vec<u8> {
    encode_envelope_for(ENVELOPE_FORMAT, signer, payload, signature)
}

/// [`encode_envelope`] with another format number.
pub fn encode_envelope_for(
    format: u64,
    signer: &PublicKey,
    payload: &[u8],
    signature: &[u8; 64],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 110);
    out.push(0x84);
    write_header(&mut out, 0, format);
    write_header(&mut out, 2, 32);
    out.extend_from_slice(signer.as_bytes());
    write_header(&mut out, 2, payload.len() as u64);
    out.extend_from_slice(payload);
    write_header(&mut out, 2, 64);
    out.extend_from_slice(signature);
    out
}

/// Splits an envelope of either known format into signer, payload bytes and
/// signature, refusing any encoding but the canonical one (so one record has
/// one hash).
pub fn decode_envelope(bytes: &[u8]) -> Result<(PublicKey, &[u8], [u8; 64]), RecordError> {
    decode_envelope_with_format(bytes)
        .map(|(_, signer, payload, signature)| (signer, payload, signature))
}

/// An envelope's items: format, signer, payload bytes, signature.
pub type EnvelopeItems<'a> = (u64, PublicKey, &'a [u8], [u8; 64]);

/// [`decode_envelope`], with the envelope's format.
pub fn decode_envelope_with_format(bytes: &[u8]) -> Result<EnvelopeItems<'_>, RecordError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge {
            size: bytes.len(),
            max: MAX_RECORD_BYTES,
        });
    }
    let malformed = |reason: &str| RecordError::Malformed {
        field: "envelope".into(),
        reason: reason.into(),
    };
    let mut reader = Reader::new(bytes);
    // The format comes first, before the array's length is judged: a newer
    // format may change the envelope's shape, and is not misbehaviour.
    let (major, count) = reader.header().map_err(|r| malformed(&r))?;
    if major != 4 || count == 0 {
        return Err(malformed(
            "expected an array whose first item is the format",
        ));
    }
    let (major, format) = reader.header().map_err(|r| malformed(&r))?;
    if major != 0 {
        return Err(malformed("format must be an unsigned integer"));
    }
    if format != ENVELOPE_FORMAT && format != LENDING_FORMAT {
        return Err(RecordError::UnsupportedFormat { format });
    }
    if count != 4 {
        return Err(malformed("expected an array of 4 items"));
    }
    let signer = reader.byte_string().map_err(|r| malformed(&r))?;
    let signer: [u8; 32] = signer
        .try_into()
        .map_err(|_| malformed("signer must be 32 bytes"))?;
    let payload = reader.byte_string().map_err(|r| malformed(&r))?;
    let signature = reader.byte_string().map_err(|r| malformed(&r))?;
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| malformed("signature must be 64 bytes"))?;
    if !reader.is_empty() {
        return Err(malformed("trailing bytes after the envelope"));
    }
    let signer = PublicKey(signer);
    if encode_envelope_for(format, &signer, payload, &signature) != bytes {
        return Err(RecordError::NonCanonicalEnvelope);
    }
    Ok((format, signer, payload, signature))
}

/// Decodes payload bytes after the bounded structural scan, and refuses any
/// encoding but the canonical one.
///
/// serde_cbor is lenient (it reads non-shortest integers, `null` for an
/// absent option, enum variants by index, text from byte strings, a missing
/// `area`); accepting that would make the set of valid records depend on this
/// library's quirks. Requiring the bytes to be exactly what [`seal`] writes
/// makes the format what PROTOCOL.md says, and nothing more.
pub fn decode_payload(bytes: &[u8]) -> Result<Payload, RecordError> {
    decode_payload_checked(bytes, None)
}

/// [`decode_payload`] for an envelope of `format`: a kind that another format
/// carries is `malformed`, as a node that knows only that format finds it.
pub fn decode_payload_of_format(format: u64, bytes: &[u8]) -> Result<Payload, RecordError> {
    decode_payload_checked(bytes, Some(format))
}

fn decode_payload_checked(bytes: &[u8], format: Option<u64>) -> Result<Payload, RecordError> {
    scan_payload(bytes)?;
    let payload: Payload = serde_cbor::from_slice(bytes).map_err(|e| RecordError::Malformed {
        field: "payload".into(),
        reason: e.to_string(),
    })?;
    if let Some(format) = format.filter(|&f| f != payload.envelope_format()) {
        return Err(RecordError::Malformed {
            field: "payload".into(),
            reason: format!(
                "envelope format {format} does not carry the kind {}",
                payload.kind_name()
            ),
        });
    }
    let canonical = encode_payload(&payload)?;
    if canonical != bytes {
        let offset = canonical
            .iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(canonical.len().min(bytes.len()));
        return Err(RecordError::NonCanonicalPayload {
            field: path_at(bytes, offset),
        });
    }
    Ok(payload)
}

/// The canonical CBOR encoding of a payload.
pub fn encode_payload(payload: &Payload) -> Result<Vec<u8>, RecordError> {
    serde_cbor::to_vec(payload).map_err(|e| RecordError::Malformed {
        field: "payload".into(),
        reason: e.to_string(),
    })
}

/// Writes a CBOR item header in its shortest form.
pub(crate) fn write_header(out: &mut Vec<u8>, major: u8, value: u64) {
    let m = major << 5;
    match value {
        0..=23 => out.push(m | value as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, value as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(value as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(value as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
}

/// A cursor over CBOR bytes that reads definite-length headers only.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    fn is_empty(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| "unexpected end of input".to_string())?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    /// Reads an item header: (major type, argument). Refuses indefinite lengths.
    fn header(&mut self) -> Result<(u8, u64), String> {
        let initial = self.take(1)?[0];
        let major = initial >> 5;
        let info = initial & 0x1f;
        let value = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.take(1)?[0]),
            25 => u64::from(u16::from_be_bytes(
                self.take(2)?.try_into().expect("2 bytes"),
            )),
            26 => u64::from(u32::from_be_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            )),
            27 => u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")),
            31 => return Err("indefinite-length items are not allowed".into()),
            _ => return Err(format!("reserved additional information {info}")),
        };
        Ok((major, value))
    }

    fn byte_string(&mut self) -> Result<&'a [u8], String> {
        match self.header()? {
            (2, len) => self.take(usize::try_from(len).map_err(|_| "length overflow")?),
            _ => Err("expected a byte string".into()),
        }
    }
}

/// Walks a payload's CBOR without building it, enforcing the allowed subset
/// (integers, byte and text strings, arrays, maps with text keys, false, true,
/// null — no tags, no floats, no indefinite lengths) and every generic limit.
/// Paths in errors use the map keys seen on the way (`offer.tags[3]`).
pub fn scan_payload(bytes: &[u8]) -> Result<(), RecordError> {
    Scan::new(bytes, None).run().map(|_| ())
}

/// The path of the item that byte `offset` of a payload belongs to, to name
/// the field where an encoding departs from the canonical one.
fn path_at(bytes: &[u8], offset: usize) -> String {
    match Scan::new(bytes, Some(offset)).run() {
        Ok(Some(path)) => path,
        _ => "payload".into(),
    }
}

/// One pass over a payload. With `locate`, it also records the path of the
/// first item whose encoding (header, key or string data) covers that offset.
struct Scan<'a> {
    reader: Reader<'a>,
    // Borrowed keys and plain indices: no allocation unless an error or the
    // located field needs the path rendered.
    path: Vec<PathPart<'a>>,
    locate: Option<usize>,
    found: Option<String>,
}

impl<'a> Scan<'a> {
    fn new(bytes: &'a [u8], locate: Option<usize>) -> Self {
        Scan {
            reader: Reader::new(bytes),
            path: Vec::new(),
            locate,
            found: None,
        }
    }

    fn run(mut self) -> Result<Option<String>, RecordError> {
        if self.reader.bytes.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge {
                size: self.reader.bytes.len(),
                max: MAX_RECORD_BYTES,
            });
        }
        self.item(0)?;
        if !self.reader.is_empty() {
            return Err(RecordError::Malformed {
                field: "payload".into(),
                reason: "trailing bytes after the payload".into(),
            });
        }
        Ok(self.found)
    }

    fn field(&self) -> String {
        render_path(&self.path)
    }

    fn malformed(&self, reason: impl Into<String>) -> RecordError {
        RecordError::Malformed {
            field: self.field(),
            reason: reason.into(),
        }
    }

    /// Notes the current path if the bytes from `start` to the cursor cover
    /// the offset being located.
    fn mark(&mut self, start: usize, suffix: &str) {
        if let (Some(target), None) = (self.locate, &self.found) {
            if (start..self.reader.pos).contains(&target) {
                self.found = Some(format!("{}{suffix}", self.field()));
            }
        }
    }

    fn item(&mut self, depth: usize) -> Result<(), RecordError> {
        let start = self.reader.pos;
        // Simple values must use the one-byte form: 0xf8 0x14 is not `false`
        // and 0xf9 … is a float, whatever argument it decodes to.
        let initial = self.reader.bytes.get(start).copied();
        let (major, arg) = self.reader.header().map_err(|r| self.malformed(r))?;
        let len = usize::try_from(arg).unwrap_or(usize::MAX);
        match major {
            0 | 1 => {}
            2 | 3 => {
                let max = if major == 2 {
                    MAX_BYTE_STRING
                } else {
                    MAX_TEXT_BYTES
                };
                if len > max {
                    return Err(RecordError::TooLong {
                        field: self.field(),
                        len,
                        max,
                        unit: crate::error::LengthUnit::Bytes,
                    });
                }
                let data = self.reader.take(len).map_err(|r| self.malformed(r))?;
                if major == 3 && std::str::from_utf8(data).is_err() {
                    return Err(self.malformed("text is not valid UTF-8"));
                }
            }
            4 | 5 => {
                if depth + 1 > MAX_DEPTH {
                    return Err(RecordError::TooDeep {
                        field: self.field(),
                        depth: depth + 1,
                        max: MAX_DEPTH,
                    });
                }
                if len > MAX_CONTAINER_ITEMS {
                    return Err(RecordError::TooManyItems {
                        field: self.field(),
                        count: len,
                        max: MAX_CONTAINER_ITEMS,
                    });
                }
                self.mark(start, "");
                for index in 0..len {
                    let part = if major == 4 {
                        PathPart::Index(index)
                    } else {
                        PathPart::Key(self.map_key()?)
                    };
                    self.path.push(part);
                    self.item(depth + 1)?;
                    self.path.pop();
                }
                return Ok(());
            }
            6 => return Err(self.malformed("CBOR tags are not allowed")),
            7 if matches!(initial, Some(0xf4..=0xf6)) => {}
            7 => {
                return Err(self.malformed(
                    "only false, true and null are allowed among simple values (no floats)",
                ))
            }
            _ => unreachable!("major type is three bits"),
        }
        self.mark(start, "");
        Ok(())
    }

    fn map_key(&mut self) -> Result<&'a str, RecordError> {
        let start = self.reader.pos;
        let key = match self.reader.header().map_err(|r| self.malformed(r))? {
            (3, len) if len <= MAX_KEY_BYTES as u64 => {
                let data = self
                    .reader
                    .take(len as usize)
                    .map_err(|r| self.malformed(r))?;
                std::str::from_utf8(data)
                    .map_err(|_| self.malformed("map key is not valid UTF-8"))?
            }
            (3, len) => {
                return Err(RecordError::TooLong {
                    field: format!("{} (map key)", self.field()),
                    len: usize::try_from(len).unwrap_or(usize::MAX),
                    max: MAX_KEY_BYTES,
                    unit: crate::error::LengthUnit::Bytes,
                })
            }
            _ => return Err(self.malformed("map keys must be text strings")),
        };
        self.mark(start, " (map key)");
        Ok(key)
    }
}

#[derive(Clone, Copy)]
enum PathPart<'a> {
    Key(&'a str),
    Index(usize),
}

fn render_path(path: &[PathPart<'_>]) -> String {
    if path.is_empty() {
        return "payload".into();
    }
    let mut out = String::new();
    for part in path {
        match part {
            PathPart::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            PathPart::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}
