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

/// A commune or EPCI as the reference data names it: what an operator
/// confirms before a publisher key is tied to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collectivity {
    pub siren: String,
    pub name: String,
    pub body: mutua_protocol::BodyKind,
    /// The commune's INSEE code (communes only).
    pub insee: Option<String>,
    /// For an EPCI, its legal form: CC, CA, CU, METRO or MET69.
    pub epci_type: Option<String>,
    /// `(code, name)`: a commune's département; an EPCI's, most member
    /// communes first (an EPCI may straddle départements).
    pub departements: Vec<(String, String)>,
    /// `(SIREN, name)` of the commune's EPCI.
    pub epci: Option<(String, String)>,
}

/// Finds a commune by INSEE code or SIREN, or an EPCI by SIREN.
///
/// Parses the compressed tables on each call (tens of milliseconds) rather
/// than keeping names in memory: only the CLI needs them, once.
pub fn lookup(code: &str) -> Option<Collectivity> {
    let code = code.trim();
    let communes = rows(COMMUNES_GZ);
    let epcis = rows(EPCI_GZ);
    let departements = rows(DEPARTEMENTS_GZ);
    let field = |r: &csv::StringRecord, i| r.get(i).unwrap_or("").to_owned();
    let dept_name = |c: &str| {
        let name = departements
            .iter()
            .find(|r| r.get(0) == Some(c))
            .map_or_else(String::new, |r| field(r, 1));
        (c.to_owned(), name)
    };
    let epci_named = |siren: &str| {
        epcis
            .iter()
            .find(|r| r.get(0) == Some(siren))
            .map(|r| (field(r, 0), field(r, 1)))
    };
    // communes.csv: insee,name,departement,region,siren,population,epci_siren
    if let Some(r) = communes
        .iter()
        .find(|r| r.get(0) == Some(code) || r.get(4) == Some(code))
    {
        return Some(Collectivity {
            siren: field(r, 4),
            name: field(r, 1),
            body: mutua_protocol::BodyKind::Commune,
            insee: Some(field(r, 0)),
            epci_type: None,
            departements: vec![dept_name(r.get(2).unwrap_or(""))],
            epci: r.get(6).filter(|s| !s.is_empty()).and_then(epci_named),
        });
    }
    // epci.csv: siren,name,type,population,members
    let r = epcis.iter().find(|r| r.get(0) == Some(code))?;
    let mut counts: Vec<(String, usize)> = Vec::new();
    for c in communes.iter().filter(|c| c.get(6) == Some(code)) {
        let d = c.get(2).unwrap_or("");
        match counts.iter_mut().find(|(k, _)| k == d) {
            Some((_, n)) => *n += 1,
            None => counts.push((d.to_owned(), 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Some(Collectivity {
        siren: field(r, 0),
        name: field(r, 1),
        body: mutua_protocol::BodyKind::Epci,
        insee: None,
        epci_type: Some(field(r, 2)),
        departements: counts.iter().map(|(d, _)| dept_name(d)).collect(),
        epci: None,
    })
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

    #[test]
    fn lookup_by_insee_or_siren() {
        let by_insee = lookup("33063").unwrap();
        assert_eq!(by_insee.name, "Bordeaux");
        assert_eq!(by_insee.siren, "213300635");
        assert_eq!(by_insee.departements, [("33".into(), "Gironde".into())]);
        assert_eq!(
            by_insee.epci,
            Some(("243300316".into(), "Bordeaux Métropole".into()))
        );
        assert_eq!(lookup("213300635"), Some(by_insee));
        let epci = lookup("243300316").unwrap();
        assert_eq!(epci.body, mutua_protocol::BodyKind::Epci);
        assert_eq!(epci.epci_type.as_deref(), Some("METRO"));
        assert_eq!(epci.departements[0].0, "33");
        assert_eq!(lookup("2A004").unwrap().name, "Ajaccio");
        assert!(lookup("99999").is_none());
    }
}
