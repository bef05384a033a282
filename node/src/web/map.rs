//! A small SVG map of search results, drawn from the communes' positions
//! (no tiles: nothing is fetched from elsewhere). An equirectangular
//! projection around the points is exact enough at a département's scale.

use maud::{html, Markup};

use super::i18n::{n, t, tr};

const WIDTH: f64 = 320.0;
const HEIGHT: f64 = 220.0;
const MARGIN: f64 = 14.0;

/// A point to draw: latitude, longitude (degrees) and its label.
pub struct Spot {
    pub lat: f64,
    pub lon: f64,
    pub label: String,
}

/// The map of `spots` around `centre` (the searched commune), or nothing
/// when there is no point to draw.
pub fn draw(spots: &[Spot], centre: Option<(f64, f64)>) -> Markup {
    if spots.is_empty() {
        return html! {};
    }
    let all: Vec<(f64, f64)> = spots.iter().map(|s| (s.lat, s.lon)).chain(centre).collect();
    let (min_lat, max_lat) = bounds(all.iter().map(|p| p.0));
    let (min_lon, max_lon) = bounds(all.iter().map(|p| p.1));
    let mid_lat = ((min_lat + max_lat) / 2.0).to_radians().cos().max(0.1);
    // At least ~10 km across, so that a single point sits in the middle.
    let span_x = ((max_lon - min_lon) * mid_lat).max(0.1);
    let span_y = (max_lat - min_lat).max(0.1);
    let scale = ((WIDTH - 2.0 * MARGIN) / span_x).min((HEIGHT - 2.0 * MARGIN) / span_y);
    let cx = (min_lon + max_lon) / 2.0;
    let cy = (min_lat + max_lat) / 2.0;
    let project = |lat: f64, lon: f64| {
        (
            WIDTH / 2.0 + (lon - cx) * mid_lat * scale,
            HEIGHT / 2.0 - (lat - cy) * scale,
        )
    };
    let label = tr("map-label", &[("count", n(spots.len()))]);
    html! {
        svg class="map" role="img" aria-labelledby="carte-titre" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } xmlns="http://www.w3.org/2000/svg" {
            title id="carte-titre" { (label) }
            @if let Some((lat, lon)) = centre {
                @let (x, y) = project(lat, lon);
                g {
                    title { (t("map-centre")) }
                    path d={ "M" (format!("{:.1}", x - 7.0)) " " (format!("{y:.1}")) "h14M" (format!("{x:.1}")) " " (format!("{:.1}", y - 7.0)) "v14" } stroke="#1a1a1a" stroke-width="2" {}
                }
            }
            @for spot in spots {
                @let (x, y) = project(spot.lat, spot.lon);
                circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="5" fill="#0b4f8a" stroke="#fff" stroke-width="1.5" {
                    title { (spot.label) }
                }
            }
        }
    }
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_land_inside_the_frame() {
        let spots = [
            Spot {
                lat: 44.84,
                lon: -0.58,
                label: "Bordeaux".into(),
            },
            Spot {
                lat: 44.93,
                lon: -0.49,
                label: "Ambarès".into(),
            },
        ];
        let svg = draw(&spots, Some((44.80, -0.60))).into_string();
        assert_eq!(svg.matches("<circle").count(), 2);
        for part in svg.split("cx=\"").skip(1) {
            let x: f64 = part.split('"').next().unwrap().parse().unwrap();
            assert!((0.0..=WIDTH).contains(&x), "{x}");
        }
        assert!(draw(&[], None).into_string().is_empty());
    }
}
