//! The 2026 reference data of French communes and EPCI (INSEE's Code officiel
//! géographique via Etalab; positions and postal codes from La Poste),
//! compiled into the binary from `store/data/` (see its README for how the
//! files are made).
//!
//! What every node needs (codes, EPCI, département, position) is kept
//! compact in sorted arrays; names and postal codes, which only place
//! resolution and display need, are loaded on first use ([`places`]).

use std::io::Read;
use std::sync::OnceLock;

use flate2::read::GzDecoder;
use mutua_protocol::GeoPoint;

pub(crate) static COMMUNES_GZ: &[u8] = include_bytes!("../data/communes.csv.gz");
static EPCI_GZ: &[u8] = include_bytes!("../data/epci.csv.gz");
pub(crate) static DEPARTEMENTS_GZ: &[u8] = include_bytes!("../data/departements.csv.gz");

/// A commune's place in the administrative map.
#[derive(Clone, Copy, Debug)]
struct CommuneRef {
    insee: [u8; 5],
    /// 0 when the commune belongs to no EPCI.
    epci: u32,
    departement: [u8; 3],
    /// Its reference point, when the reference data has one.
    point: Option<GeoPoint>,
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

/// A table's rows, with its columns found by name (so that a regenerated
/// file may order or add columns freely).
pub(crate) struct Table {
    header: csv::StringRecord,
    pub(crate) rows: Vec<csv::StringRecord>,
}

impl Table {
    pub(crate) fn read(gz: &[u8]) -> Table {
        let text = gunzip(gz);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader
            .headers()
            .expect("the reference data compiled into the binary has a header")
            .clone();
        let rows = reader
            .records()
            .map(|r| r.expect("the reference data compiled into the binary is valid CSV"))
            .collect();
        Table { header, rows }
    }

    /// The index of column `name`.
    pub(crate) fn column(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("the compiled-in reference data has a {name} column"))
    }
}

fn dept_bytes(code: &str) -> Option<[u8; 3]> {
    let b = code.as_bytes();
    (2..=3).contains(&b.len()).then(|| {
        let mut out = [b' '; 3];
        out[..b.len()].copy_from_slice(b);
        out
    })
}

fn dept_text(code: &[u8; 3]) -> &str {
    std::str::from_utf8(code).unwrap_or("").trim_end()
}

fn siren_number(code: &str) -> Option<u32> {
    (code.len() == 9 && code.bytes().all(|b| b.is_ascii_digit()))
        .then(|| code.parse().ok())
        .flatten()
}

fn point_of(lat: &str, lon: &str) -> Option<GeoPoint> {
    let (lat, lon): (f64, f64) = (lat.parse().ok()?, lon.parse().ok()?);
    Some(GeoPoint::from_degrees(lat, lon))
}

impl RefData {
    fn load() -> RefData {
        let table = Table::read(COMMUNES_GZ);
        let [insee, dept, epci, lat, lon] =
            ["insee", "departement", "epci_siren", "lat", "lon"].map(|c| table.column(c));
        fn field(r: &csv::StringRecord, i: usize) -> &str {
            r.get(i).unwrap_or("")
        }
        let mut communes: Vec<CommuneRef> = table
            .rows
            .iter()
            .filter_map(|r| {
                Some(CommuneRef {
                    insee: field(r, insee).as_bytes().try_into().ok()?,
                    departement: dept_bytes(field(r, dept))?,
                    epci: siren_number(field(r, epci)).unwrap_or(0),
                    point: point_of(field(r, lat), field(r, lon)),
                })
            })
            .collect();
        communes.sort_by_key(|c| c.insee);
        let epci_table = Table::read(EPCI_GZ);
        let siren = epci_table.column("siren");
        let mut epcis: Vec<u32> = epci_table
            .rows
            .iter()
            .filter_map(|r| siren_number(r.get(siren)?))
            .collect();
        epcis.sort_unstable();
        let dept_table = Table::read(DEPARTEMENTS_GZ);
        let code = dept_table.column("code");
        let mut departements: Vec<[u8; 3]> = dept_table
            .rows
            .iter()
            .filter_map(|r| dept_bytes(r.get(code)?))
            .collect();
        departements.sort_unstable();
        RefData {
            communes,
            epcis,
            departements,
        }
    }

    fn index_of(&self, insee: &str) -> Option<usize> {
        let key: [u8; 5] = insee.as_bytes().try_into().ok()?;
        self.communes.binary_search_by_key(&key, |c| c.insee).ok()
    }

    fn commune(&self, insee: &str) -> Option<&CommuneRef> {
        self.index_of(insee).map(|i| &self.communes[i])
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

    /// The reference point of a commune, when the reference data has one.
    pub fn position_of(&self, insee: &str) -> Option<GeoPoint> {
        self.commune(insee).and_then(|c| c.point)
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
            Some(c) => Some(dept_text(&c.departement).to_owned()),
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
    let communes = Table::read(COMMUNES_GZ);
    let epcis = Table::read(EPCI_GZ);
    let departements = Table::read(DEPARTEMENTS_GZ);
    let [c_insee, c_name, c_dept, c_siren, c_epci] =
        ["insee", "name", "departement", "siren", "epci_siren"].map(|c| communes.column(c));
    let [e_siren, e_name, e_type] = ["siren", "name", "type"].map(|c| epcis.column(c));
    let [d_code, d_name] = ["code", "name"].map(|c| departements.column(c));
    let field = |r: &csv::StringRecord, i| r.get(i).unwrap_or("").to_owned();
    let dept_name = |c: &str| {
        let name = departements
            .rows
            .iter()
            .find(|r| r.get(d_code) == Some(c))
            .map_or_else(String::new, |r| field(r, d_name));
        (c.to_owned(), name)
    };
    let epci_named = |siren: &str| {
        epcis
            .rows
            .iter()
            .find(|r| r.get(e_siren) == Some(siren))
            .map(|r| (field(r, e_siren), field(r, e_name)))
    };
    if let Some(r) = communes
        .rows
        .iter()
        .find(|r| r.get(c_insee) == Some(code) || r.get(c_siren) == Some(code))
    {
        return Some(Collectivity {
            siren: field(r, c_siren),
            name: field(r, c_name),
            body: mutua_protocol::BodyKind::Commune,
            insee: Some(field(r, c_insee)),
            epci_type: None,
            departements: vec![dept_name(r.get(c_dept).unwrap_or(""))],
            epci: r.get(c_epci).filter(|s| !s.is_empty()).and_then(epci_named),
        });
    }
    let r = epcis.rows.iter().find(|r| r.get(e_siren) == Some(code))?;
    let mut counts: Vec<(String, usize)> = Vec::new();
    for c in communes.rows.iter().filter(|c| c.get(c_epci) == Some(code)) {
        let d = c.get(c_dept).unwrap_or("");
        match counts.iter_mut().find(|(k, _)| k == d) {
            Some((_, n)) => *n += 1,
            None => counts.push((d.to_owned(), 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Some(Collectivity {
        siren: field(r, e_siren),
        name: field(r, e_name),
        body: mutua_protocol::BodyKind::Epci,
        insee: None,
        epci_type: Some(field(r, e_type)),
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
