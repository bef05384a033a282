//! The grid of the geographic index: cells of 0.2° × 0.2° (about 22 km north
//! to south, 15 km east to west in mainland France). A radius query scans the
//! cells of its bounding box, then keeps what `GeoPoint::distance_km` accepts.

use mutua_protocol::GeoPoint;

/// Cell side in millionths of a degree.
pub const CELL_E6: i64 = 200_000;
/// Above this many cells a radius is too wide for the geographic index to be
/// the cheapest way in; another index drives the query and distance filters.
pub const MAX_DRIVING_CELLS: usize = 256;
const KM_PER_DEGREE: f64 = 111.2;

fn lat_cell(lat_e6: i64) -> u16 {
    ((lat_e6.clamp(-90_000_000, 90_000_000) + 90_000_000) / CELL_E6) as u16
}

fn lon_cell(lon_e6: i64) -> u16 {
    ((lon_e6.clamp(-180_000_000, 180_000_000) + 180_000_000) / CELL_E6) as u16
}

/// The 4-byte key of the cell holding `p`.
pub fn cell(p: &GeoPoint) -> [u8; 4] {
    cell_key(lat_cell(p.lat_e6.into()), lon_cell(p.lon_e6.into()))
}

fn cell_key(lat: u16, lon: u16) -> [u8; 4] {
    let mut out = [0; 4];
    out[..2].copy_from_slice(&lat.to_be_bytes());
    out[2..].copy_from_slice(&lon.to_be_bytes());
    out
}

/// Every cell that may hold a point within `radius_km` of `center`.
pub fn cells_within(center: &GeoPoint, radius_km: f64) -> Vec<[u8; 4]> {
    let dlat = radius_km / KM_PER_DEGREE;
    let lat = center.lat();
    let widest = (lat.abs() + dlat).min(89.9).to_radians().cos();
    let dlon = (radius_km / (KM_PER_DEGREE * widest)).min(180.0);
    let e6 = |deg: f64| (deg * 1e6) as i64;
    let (lat0, lat1) = (lat_cell(e6(lat - dlat)), lat_cell(e6(lat + dlat)));
    let (lon0, lon1) = (
        lon_cell(e6(center.lon() - dlon)),
        lon_cell(e6(center.lon() + dlon)),
    );
    (lat0..=lat1)
        .flat_map(|a| (lon0..=lon1).map(move |o| cell_key(a, o)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbouring_cells_cover_the_radius() {
        let bordeaux = GeoPoint::from_degrees(44.837789, -0.57918);
        let libourne = GeoPoint::from_degrees(44.915, -0.2436);
        assert!(bordeaux.distance_km(&libourne) < 30.0);
        let cells = cells_within(&bordeaux, 30.0);
        assert!(cells.contains(&cell(&libourne)));
        assert!(cells.contains(&cell(&bordeaux)));
        assert!(cells.len() <= 24, "{}", cells.len());
    }
}
