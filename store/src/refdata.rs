//! The 2026 reference data of French communes and EPCI (INSEE's Code officiel
//! géographique via Etalab), compiled into the binary from `store/data/`.
//!
//! Kept compact (sorted arrays, about 0.5 MB) because every node loads it.

use std::io::Read;
use std::sync::OnceLock;

use flate2::read::GzDecoder;

static COMMUNES_GZ: &[u8] = include_bytes!("../data/communes.csv.gz");
static EPCI_GZ: &[u8] = include_bytes!("../data/epci.csv.gz");
static DEPARTEMENTS_GZ: &[u8] = include_bytes!("../data/departements.csv.gz");

/// A commune's place in the administrative map.
#[derive(Clone, Copy, Debug)]
struct CommuneRef {
    insee: [u8; 5],
    /// 0 when the commune belongs to no EPCI.
    epci: u32,
    departement: [u8; 3],
}

/// Communes with their EPCI and département; known EPCI and départements.
pub struct RefData {
    communes: Vec<CommuneRef>,
    epcis: Vec<u32>,
    departements: Vec<[u8; 3]>,
}

/// The reference data, parsed once per process.
pub fn reference() -> &'static RefData {
    static DATA: OnceLock<RefData> = OnceLock::new();
    DATA.get_or_init(RefData::load)
}

fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    GzDecoder::new(bytes)
        .read_to_string(&mut out)
        .expect("the reference data compiled into the binary is valid gzip'd UTF-8");
    out
}

fn rows(gz: &[u8]) -> Vec<csv::StringRecord> {
    let text = gunzip(gz);
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("the reference data compiled into the binary is valid CSV"))
        .collect()
}

fn dept_bytes(code: &str) -> Option<[u8; 3]> {
    let b = code.as_bytes();
    (2..=3).contains(&b.len()).then(|| {
        let mut out = [b' '; 3];
        out[..b.len()].copy_from_slice(b);
        out
    })
}

fn siren_number(code: &str) -> Option<u32> {
    (code.len() == 9 && code.bytes().all(|b| b.is_ascii_digit()))
        .then(|| code.parse().ok())
        .flatten()
}

impl RefData {
    fn load() -> RefData {
        // communes.csv: insee,name,departement,region,siren,population,epci_siren
        let mut communes: Vec<CommuneRef> = rows(COMMUNES_GZ)
            .iter()
            .filter_map(|r| {
                Some(CommuneRef {
                    insee: r.get(0)?.as_bytes().try_into().ok()?,
                    departement: dept_bytes(r.get(2)?)?,
                    epci: r.get(6).and_then(siren_number).unwrap_or(0),
                })
            })
            .collect();
        communes.sort_by_key(|c| c.insee);
        let mut epcis: Vec<u32> = rows(EPCI_GZ)
            .iter()
            .filter_map(|r| siren_number(r.get(0)?))
            .collect();
        epcis.sort_unstable();
        let mut departements: Vec<[u8; 3]> = rows(DEPARTEMENTS_GZ)
            .iter()
            .filter_map(|r| dept_bytes(r.get(0)?))
            .collect();
        departements.sort_unstable();
        RefData {
            communes,
            epcis,
            departements,
        }
    }

    fn commune(&self, insee: &str) -> Option<&CommuneRef> {
        let key: [u8; 5] = insee.as_bytes().try_into().ok()?;
        self.communes
            .binary_search_by_key(&key, |c| c.insee)
            .ok()
            .map(|i| &self.communes[i])
    }

    pub fn is_commune(&self, insee: &str) -> bool {
        self.commune(insee).is_some()
    }

    pub fn is_epci(&self, siren: &str) -> bool {
        siren_number(siren).is_some_and(|n| self.epcis.binary_search(&n).is_ok())
    }

    pub fn is_departement(&self, code: &str) -> bool {
        dept_bytes(code).is_some_and(|d| self.departements.binary_search(&d).is_ok())
    }

    /// The SIREN of the EPCI the commune belongs to.
    pub fn epci_of(&self, insee: &str) -> Option<String> {
        self.commune(insee)
            .filter(|c| c.epci != 0)
            .map(|c| format!("{:09}", c.epci))
    }

    /// The département of a commune: from the reference data, else from the
    /// shape of the code (a commune created after 2026 still has one).
    pub fn departement_of(&self, insee: &str) -> Option<String> {
        match self.commune(insee) {
            Some(c) => Some(String::from_utf8_lossy(&c.departement).trim().to_owned()),
            None => mutua_protocol::codes::departement_of_insee(insee).map(str::to_owned),
        }
    }

    pub fn commune_count(&self) -> usize {
        self.communes.len()
    }

    /// The INSEE code of the `i`-th commune (for synthetic data).
    pub fn commune_at(&self, i: usize) -> String {
        String::from_utf8_lossy(&self.communes[i % self.communes.len()].insee).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_reference_data() {
        let r = reference();
        assert_eq!(r.commune_count(), 34_969);
        // Bordeaux is in Bordeaux Métropole and in Gironde.
        assert_eq!(r.epci_of("33063").as_deref(), Some("243300316"));
        assert_eq!(r.departement_of("33063").as_deref(), Some("33"));
        assert_eq!(r.departement_of("2A004").as_deref(), Some("2A"));
        assert_eq!(r.departement_of("97411").as_deref(), Some("974"));
        assert!(r.is_epci("243300316"));
        assert!(r.is_departement("2B") && r.is_departement("976"));
        assert!(!r.is_commune("99999"));
    }
}
