//! Syntax of the official French codes carried by records.

/// A SIREN: 9 ASCII digits whose Luhn sum is a multiple of 10.
///
/// (La Poste's SIREN 356000000 is the one known exception to the Luhn rule;
/// it is accepted as such.)
pub fn is_valid_siren(code: &str) -> bool {
    const LA_POSTE: &str = "356000000";
    code.len() == 9
        && code.bytes().all(|b| b.is_ascii_digit())
        && (code == LA_POSTE || luhn_sum(code).is_multiple_of(10))
}

fn luhn_sum(digits: &str) -> u32 {
    digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum()
}

/// An INSEE commune code: a département prefix then digits, 5 characters in
/// all: `01001`…`95690`, `2A004`, `2B033` (Corsica), `97101`…`97617` (overseas).
pub fn is_valid_insee(code: &str) -> bool {
    let b = code.as_bytes();
    if b.len() != 5 {
        return false;
    }
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match &b[..2] {
        b"2A" | b"2B" => digits(&b[2..]),
        b"97" => matches!(b[2], b'1'..=b'6') && digits(&b[3..]),
        prefix => digits(prefix) && prefix != b"00" && prefix != b"20" && digits(&b[2..]),
    }
}

/// A département code: `01`–`95` (without `20`), `2A`, `2B`, `971`–`976`.
pub fn is_valid_departement(code: &str) -> bool {
    match code {
        "2A" | "2B" => true,
        _ if code.len() == 2 => code.parse::<u8>().is_ok_and(|n| {
            (1..=95).contains(&n) && n != 20 && code.bytes().all(|b| b.is_ascii_digit())
        }),
        _ if code.len() == 3 => code
            .parse::<u16>()
            .is_ok_and(|n| (971..=976).contains(&n) && code.bytes().all(|b| b.is_ascii_digit())),
        _ => false,
    }
}

/// The département an INSEE commune code belongs to.
pub fn departement_of_insee(code: &str) -> Option<&str> {
    if !is_valid_insee(code) {
        return None;
    }
    Some(if code.starts_with("97") {
        &code[..3]
    } else {
        &code[..2]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siren_luhn() {
        // Bordeaux (213300635) and Bordeaux Métropole (243300316).
        assert!(is_valid_siren("213300635"));
        assert!(is_valid_siren("243300316"));
        assert!(!is_valid_siren("213300636"));
        assert!(!is_valid_siren("21330063"));
        assert!(!is_valid_siren("21330063a"));
        assert!(is_valid_siren("356000000"));
    }

    #[test]
    fn insee_shapes() {
        for ok in ["33063", "2A004", "2B033", "97411", "01001"] {
            assert!(is_valid_insee(ok), "{ok}");
        }
        for bad in [
            "3306", "330633", "2C004", "97711", "00123", "20123", "2a004", "3306x",
        ] {
            assert!(!is_valid_insee(bad), "{bad}");
        }
        assert_eq!(departement_of_insee("97411"), Some("974"));
        assert_eq!(departement_of_insee("2A004"), Some("2A"));
    }

    #[test]
    fn departement_shapes() {
        for ok in ["01", "33", "2A", "2B", "971", "976", "95"] {
            assert!(is_valid_departement(ok), "{ok}");
        }
        for bad in ["00", "20", "96", "977", "1", "+1", "2C", "-1"] {
            assert!(!is_valid_departement(bad), "{bad}");
        }
    }
}
