//! Delimited text files as spreadsheets save them: the encoding detected
//! (UTF-8 with or without BOM, UTF-16 with BOM, Windows-1252 or ISO-8859-15
//! — what Excel's "CSV" writes in France), the separator detected (`;`, `,`
//! or tab), and each record's line number counted from the bytes.
//!
//! Why the line numbers: with CRLF endings, csv_core ends a record at the
//! `\r`, and the `\n` is only consumed when the next record is read — after
//! that record's position (byte and line) was taken. So every record of a
//! CRLF file started on the `\n` of the line before it, one line too low.
//! Lines are counted here from each record's byte offset, past that `\n`.

use encoding_rs::{Encoding, ISO_8859_15, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};

use crate::{Row, SheetError};

/// A decoded file and the name of the encoding it was in.
#[derive(Debug)]
pub struct Decoded {
    pub text: String,
    pub encoding: &'static str,
}

/// Bytes → text, detecting the encoding. Fails only on a file that looks
/// like UTF-8 yet has bytes that are not, naming the first such line.
pub fn decode(bytes: &[u8]) -> Result<Decoded, SheetError> {
    if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        let body = &bytes[bom..];
        if encoding == UTF_8 {
            let text = strict_utf8(body, "UTF-8 (avec BOM)")?;
            return Ok(Decoded {
                text,
                encoding: "UTF-8 (avec BOM)",
            });
        }
        let (name, enc) = if encoding == UTF_16LE {
            ("UTF-16LE", UTF_16LE)
        } else {
            ("UTF-16BE", UTF_16BE)
        };
        let (text, _) = enc.decode_without_bom_handling(body);
        return Ok(Decoded {
            text: text.into_owned(),
            encoding: name,
        });
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(Decoded {
            text: text.to_owned(),
            encoding: "UTF-8",
        });
    }
    if has_utf8_accents(bytes) {
        // Mostly UTF-8 with a broken byte somewhere: decoding it as
        // Windows-1252 would turn every « é » into « Ã© ».
        strict_utf8(bytes, "UTF-8")?;
    }
    let encoding = if is_iso_8859_15(bytes) {
        ISO_8859_15
    } else {
        WINDOWS_1252
    };
    let (text, _) = encoding.decode_without_bom_handling(bytes);
    Ok(Decoded {
        text: text.into_owned(),
        encoding: encoding.name(),
    })
}

fn strict_utf8(bytes: &[u8], name: &str) -> Result<String, SheetError> {
    std::str::from_utf8(bytes).map(str::to_owned).map_err(|e| {
        let line = line_at(bytes, e.valid_up_to());
        SheetError::Encoding(format!(
            "ligne {line} : le fichier est en {name} mais contient des octets qui n'en sont pas \
             (octet {}) : enregistrez-le de nouveau en « CSV UTF-8 » ou en « CSV (séparateur : point-virgule) »",
            e.valid_up_to() + 1
        ))
    })
}

/// Whether the bytes hold UTF-8 encoded accented letters (`é` is C3 A9):
/// Windows-1252 text almost never has `Ã` followed by such a byte.
fn has_utf8_accents(bytes: &[u8]) -> bool {
    bytes
        .windows(2)
        .any(|w| w[0] == 0xC3 && (0x80..=0xBF).contains(&w[1]))
}

/// ISO-8859-15 rather than Windows-1252: no byte in 0x80–0x9F (printable in
/// Windows-1252, control codes in ISO-8859-15) and a `€` at 0xA4, where
/// Windows-1252 has the `¤` no French text uses.
fn is_iso_8859_15(bytes: &[u8]) -> bool {
    !bytes.iter().any(|b| (0x80..=0x9F).contains(b)) && bytes.contains(&0xA4)
}

/// The 1-based line of byte `offset`.
fn line_at(bytes: &[u8], offset: usize) -> u64 {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u64
}

/// The separator: the one of `;`, tab and `,` that the header line has most
/// of outside quotes (a tie goes in that order: `;` is what French Excel writes).
pub fn detect_separator(text: &str) -> u8 {
    let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for c in header.chars() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => counts[0] += 1,
            '\t' if !quoted => counts[1] += 1,
            ',' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let separators = [b';', b'\t', b','];
    let best = (0..3).max_by_key(|i| (counts[*i], 3 - i)).unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        separators[best]
    }
}

/// The records of delimited text, each with the line it starts on.
pub fn records(text: &str, separator: u8) -> Result<Vec<Row>, SheetError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let bytes = text.as_bytes();
    let (mut counted_to, mut line) = (0usize, 1u64);
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let mut start = record.position().map_or(counted_to, |p| p.byte() as usize);
                // The position may point at the `\n` of the previous CRLF.
                while bytes.get(start).is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    start += 1;
                }
                line += bytes[counted_to..start]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count() as u64;
                counted_to = start;
                rows.push(Row {
                    line,
                    // A line break inside a quoted cell is CRLF in a CRLF
                    // file: keep it as the `\n` every other source gives.
                    cells: record
                        .iter()
                        .map(|c| c.replace("\r\n", "\n").replace('\r', "\n"))
                        .collect(),
                });
            }
            Err(e) => {
                let at = e.position().map_or(counted_to, |p| p.byte() as usize);
                return Err(SheetError::Malformed {
                    line: line_at(bytes, at),
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_detected() {
        let utf8 = "Intitulé;Commune\n".as_bytes();
        assert_eq!(decode(utf8).unwrap().encoding, "UTF-8");
        let bom = [b"\xEF\xBB\xBF".as_slice(), utf8].concat();
        let d = decode(&bom).unwrap();
        assert_eq!(
            (d.text.as_str(), d.encoding),
            ("Intitulé;Commune\n", "UTF-8 (avec BOM)")
        );
        let cp1252 = b"Intitul\xe9;Co\xfbt \x80\n";
        let d = decode(cp1252).unwrap();
        assert_eq!(
            (d.text.as_str(), d.encoding),
            ("Intitulé;Coût €\n", "windows-1252")
        );
        let latin9 = b"Intitul\xe9;Co\xfbt \xa4\n";
        let d = decode(latin9).unwrap();
        assert_eq!(
            (d.text.as_str(), d.encoding),
            ("Intitulé;Coût €\n", "ISO-8859-15")
        );
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("Intitulé\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(&utf16).unwrap().text, "Intitulé\n");
        // UTF-8 with one stray Windows-1252 byte on line 3: refused, with the line.
        let mixed = "a;b\r\nBroyeur de végétaux;1\r\nCo"
            .bytes()
            .chain([0xfb])
            .chain(*b"t;2\r\n")
            .collect::<Vec<u8>>();
        let err = decode(&mixed).unwrap_err().to_string();
        assert!(err.starts_with("ligne 3 :"), "{err}");
    }

    #[test]
    fn separators_and_crlf_lines() {
        assert_eq!(detect_separator("a;b;c\n"), b';');
        assert_eq!(detect_separator("a,b,c\n"), b',');
        assert_eq!(detect_separator("a\tb\tc\n"), b'\t');
        assert_eq!(detect_separator("\"x;y\",b,c\n"), b',');
        assert_eq!(detect_separator("a;b,c\n"), b';');
        let text = "h1;h2\r\nv1;v2\r\n\r\n\"multi\r\nline\";x\r\nlast;y\r\n";
        let rows = records(text, b';').unwrap();
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [1, 2, 4, 6]);
        assert_eq!(rows[2].cells, ["multi\nline", "x"]);
        let lf = records(&text.replace("\r\n", "\n"), b';').unwrap();
        assert_eq!(lf.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 2, 4, 6]);
    }

    /// What the import used before: csv's own line numbers, one too low for
    /// CRLF files (kept as the explanation of the bug this module fixes).
    #[test]
    fn csv_crate_lines_lag_on_crlf() {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader("a\r\nb\r\nc\r\n".as_bytes());
        let lines: Vec<u64> = reader
            .records()
            .map(|r| r.unwrap().position().unwrap().line())
            .collect();
        assert_ne!(lines, [1, 2, 3]);
    }
}
