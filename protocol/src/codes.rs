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

/// The numeric metropolitan département codes, as inclusive ranges: two
/// digits, 20 excluded (Corsica has been 2A and 2B since 1976).
const METROPOLITAN: [(u16, u16); 2] = [(1, 19), (21, 95)];
/// The letter codes of Corsica.
const CORSICA: [&str; 2] = ["2A", "2B"];
/// The overseas départements and collectivités that have INSEE commune codes
/// (the 2026 Code officiel géographique), as inclusive ranges of 3 digits.
const OVERSEAS: [(u16, u16); 3] = [(971, 978), (984, 984), (986, 989)];

fn in_ranges(code: &str, digits: usize, ranges: &[(u16, u16)]) -> bool {
    code.len() == digits
        && code.bytes().all(|b| b.is_ascii_digit())
        && code
            .parse::<u16>()
            .is_ok_and(|n| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&n)))
}

/// A metropolitan département code: `01`–`19`, `21`–`95`, `2A`, `2B`.
fn is_metropolitan_departement(code: &str) -> bool {
    CORSICA.contains(&code) || in_ranges(code, 2, &METROPOLITAN)
}

fn is_overseas(code: &str) -> bool {
    in_ranges(code, 3, &OVERSEAS)
}

/// The accepted département codes in words, from the same tables as the
/// check: `01–19, 21–95, 2A, 2B, 971–978, 984, 986–989` (what error messages
/// and PROTOCOL.md say).
pub fn departement_codes() -> String {
    let ranges = |digits: usize, ranges: &[(u16, u16)]| -> Vec<String> {
        ranges
            .iter()
            .map(|&(lo, hi)| match lo == hi {
                true => format!("{lo:0digits$}"),
                false => format!("{lo:0digits$}–{hi:0digits$}"),
            })
            .collect()
    };
    let mut parts = ranges(2, &METROPOLITAN);
    parts.extend(CORSICA.map(String::from));
    parts.extend(ranges(3, &OVERSEAS));
    parts.join(", ")
}

/// An INSEE commune code: a département prefix then digits, 5 characters in
/// all: `01001`…`95690`, `2A004`, `2B033` (Corsica), `97101`…`98415` (overseas,
/// with a 3-character prefix).
pub fn is_valid_insee(code: &str) -> bool {
    code.len() == 5
        && code.is_ascii()
        && departement_of_code(code)
            .is_some_and(|d| code[d.len()..].bytes().all(|b| b.is_ascii_digit()))
}

/// A département (or overseas collectivité) code: see [`departement_codes`].
pub fn is_valid_departement(code: &str) -> bool {
    is_metropolitan_departement(code) || is_overseas(code)
}

/// The département prefix of a commune code, if the prefix is one.
fn departement_of_code(code: &str) -> Option<&str> {
    if code.starts_with("97") || code.starts_with("98") {
        code.get(..3).filter(|p| is_overseas(p))
    } else {
        code.get(..2).filter(|p| is_metropolitan_departement(p))
    }
}

/// The département an INSEE commune code belongs to.
pub fn departement_of_insee(code: &str) -> Option<&str> {
    if !is_valid_insee(code) {
        return None;
    }
    departement_of_code(code)
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
        // Overseas codes from the 2026 reference data: Saint-Barthélemy,
        // Saint-Martin, Kerguelen, Wallis-et-Futuna, Papeete, Nouméa, Clipperton.
        for ok in [
            "33063", "2A004", "2B033", "97411", "01001", "97701", "97801", "98412", "98611",
            "98735", "98818", "98901",
        ] {
            assert!(is_valid_insee(ok), "{ok}");
        }
        for bad in [
            "3306", "330633", "2C004", "97911", "98511", "00123", "20123", "2a004", "3306x",
            "96001", "9741x",
        ] {
            assert!(!is_valid_insee(bad), "{bad}");
        }
        assert_eq!(departement_of_insee("97411"), Some("974"));
        assert_eq!(departement_of_insee("2A004"), Some("2A"));
        assert_eq!(departement_of_insee("98818"), Some("988"));
    }

    #[test]
    fn departement_shapes() {
        for ok in [
            "01", "33", "2A", "2B", "971", "976", "977", "978", "984", "989", "95",
        ] {
            assert!(is_valid_departement(ok), "{ok}");
        }
        for bad in [
            "00", "20", "96", "970", "979", "983", "985", "990", "1", "+1", "2C", "-1", "+97",
            "0971", "2a",
        ] {
            assert!(!is_valid_departement(bad), "{bad}");
        }
        assert_eq!(
            departement_codes(),
            "01–19, 21–95, 2A, 2B, 971–978, 984, 986–989"
        );
    }
}
