//! Grouped bar charts with interval whiskers, drawn by plotters into inline
//! SVG (no fonts or images are embedded: text is SVG `<text>`).

use plotters::prelude::*;

/// One bar: its height and, when known, its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub value: f64,
    pub interval: Option<(f64, f64)>,
}

/// Bars in groups along x; `bars[s][g]` is series `s` in group `g`.
pub struct GroupedBars<'a> {
    pub title: &'a str,
    pub y_label: &'a str,
    pub groups: &'a [String],
    pub series: &'a [String],
    pub bars: &'a [Vec<Option<Bar>>],
    /// A horizontal reference line (e.g. a null mean), labelled.
    pub reference: Option<(f64, &'a str)>,
}

/// Okabe-Ito colours, distinguishable with colour blindness.
const COLOURS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

pub fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// Pixels right of the plot for the legend.
const LEGEND_WIDTH: u32 = 150;
/// The reference line's colour, in the plot and in the legend.
const REFERENCE_GREY: RGBColor = RGBColor(90, 90, 90);

/// The chart as an SVG document, or None when no bar has a value.
pub fn grouped_bars(c: &GroupedBars) -> Result<Option<String>, String> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for b in c.bars.iter().flatten().flatten() {
        for v in [
            Some(b.value),
            b.interval.map(|i| i.0),
            b.interval.map(|i| i.1),
        ]
        .into_iter()
        .flatten()
        {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !lo.is_finite() {
        return Ok(None);
    }
    if let Some((r, _)) = c.reference {
        lo = lo.min(r);
        hi = hi.max(r);
    }
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let pad = ((hi - lo) * 0.08).max(1e-9);
    let (y0, y1) = (if lo < 0.0 { lo - pad } else { 0.0 }, hi + pad);
    let n_groups = c.groups.len().max(1);
    let n_series = c.series.len().max(1);
    // The legend has its own column right of the plot, so it never covers
    // a bar.
    let width =
        ((160 + n_groups * (26 * n_series + 24)).clamp(360, 1100) + LEGEND_WIDTH as usize) as u32;
    let height = 300u32;
    let mut svg = String::new();
    let e = |e: Box<dyn std::fmt::Debug>| format!("drawing `{}`: {e:?}", c.title);
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(Box::new(x)))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(c.title, ("sans-serif", 15))
            .margin(10)
            .margin_right(10 + LEGEND_WIDTH)
            .x_label_area_size(46)
            .y_label_area_size(58)
            .build_cartesian_2d(0f64..n_groups as f64, y0..y1)
            .map_err(|x| e(Box::new(x)))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc(c.y_label)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(|x| e(Box::new(x)))?;
        let slot = 0.8 / n_series as f64;
        for s in 0..c.series.len() {
            let col = colour(s);
            let rects: Vec<Rectangle<(f64, f64)>> = (0..c.groups.len())
                .filter_map(|g| {
                    let b = c.bars.get(s)?.get(g).copied().flatten()?;
                    let x0 = g as f64 + 0.1 + s as f64 * slot;
                    Some(Rectangle::new(
                        [(x0 + slot * 0.08, 0.0), (x0 + slot * 0.92, b.value)],
                        col.filled(),
                    ))
                })
                .collect();
            chart.draw_series(rects).map_err(|x| e(Box::new(x)))?;
            let whiskers: Vec<PathElement<(f64, f64)>> = (0..c.groups.len())
                .filter_map(|g| {
                    let (l, h) = c.bars.get(s)?.get(g).copied().flatten()?.interval?;
                    let xc = g as f64 + 0.1 + (s as f64 + 0.5) * slot;
                    let cap = slot * 0.2;
                    Some([
                        PathElement::new(vec![(xc, l), (xc, h)], BLACK.stroke_width(1)),
                        PathElement::new(vec![(xc - cap, l), (xc + cap, l)], BLACK.stroke_width(1)),
                        PathElement::new(vec![(xc - cap, h), (xc + cap, h)], BLACK.stroke_width(1)),
                    ])
                })
                .flatten()
                .collect();
            chart.draw_series(whiskers).map_err(|x| e(Box::new(x)))?;
        }
        if let Some((r, _)) = c.reference {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(0.0, r), (n_groups as f64, r)],
                    REFERENCE_GREY.stroke_width(2),
                )))
                .map_err(|x| e(Box::new(x)))?;
        }
        // Group names under the axis, centred on their group.
        for (g, name) in c.groups.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(g as f64 + 0.5, y0));
            let style = TextStyle::from(("sans-serif", 12).into_font()).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Top,
                ),
            );
            root.draw(&Text::new(name.clone(), (px, py + 8), style))
                .map_err(|x| e(Box::new(x)))?;
        }
        // Legend: one swatch and name per series (and the reference line),
        // top-aligned with the plot, in the column right of it.
        let (right, top) = chart.backend_coord(&(n_groups as f64, y1));
        let x = right + 14;
        let label_style = TextStyle::from(("sans-serif", 12).into_font()).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            ),
        );
        let mut y = top + 8;
        for (s, name) in c.series.iter().enumerate() {
            root.draw(&Rectangle::new(
                [(x, y - 5), (x + 10, y + 5)],
                colour(s).filled(),
            ))
            .map_err(|x| e(Box::new(x)))?;
            root.draw(&Text::new(name.clone(), (x + 16, y), label_style.clone()))
                .map_err(|x| e(Box::new(x)))?;
            y += 18;
        }
        if let Some((_, label)) = c.reference {
            root.draw(&PathElement::new(
                vec![(x, y), (x + 12, y)],
                REFERENCE_GREY.stroke_width(2),
            ))
            .map_err(|x| e(Box::new(x)))?;
            root.draw(&Text::new(
                label.to_string(),
                (x + 16, y),
                label_style.clone(),
            ))
            .map_err(|x| e(Box::new(x)))?;
        }
        root.present().map_err(|x| e(Box::new(x)))?;
    }
    Ok(Some(svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_whiskers_labels_and_reference_are_drawn() {
        let groups = vec!["corum".to_string(), "humap".to_string()];
        let series = vec!["pca".to_string(), "random".to_string()];
        let bars = vec![
            vec![
                Some(Bar {
                    value: 0.6,
                    interval: Some((0.5, 0.7)),
                }),
                Some(Bar {
                    value: 0.4,
                    interval: None,
                }),
            ],
            vec![
                Some(Bar {
                    value: 0.1,
                    interval: Some((0.05, 0.15)),
                }),
                None,
            ],
        ];
        let svg = grouped_bars(&GroupedBars {
            title: "recall <5%>",
            y_label: "recall",
            groups: &groups,
            series: &series,
            bars: &bars,
            reference: Some((0.1, "null")),
        })
        .unwrap()
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        for text in [
            "corum",
            "humap",
            "pca",
            "random",
            "null",
            "recall &lt;5%&gt;",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        // Three bars, filled in the two series' colours.
        assert_eq!(svg.matches("fill=\"#0072B2\"").count(), 2 + 1, "{svg}");
        // The legend is right of every bar: no swatch or name covers one.
        let attr = |el: &str, name: &str| -> f64 {
            let at = el.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            el[at..at + el[at..].find('"').unwrap()].parse().unwrap()
        };
        let elements = |tag: &str| -> Vec<String> {
            svg.split(&format!("<{tag} "))
                .skip(1)
                .map(|e| format!(" {e}"))
                .collect()
        };
        let full_width = attr(&svg, "width");
        let bars_right = elements("rect")
            .iter()
            .filter(|r| attr(r, "width") < full_width * 0.5)
            .filter(|r| !r.contains("height=\"10\""))
            .map(|r| attr(r, "x") + attr(r, "width"))
            .fold(0.0, f64::max);
        let legend: Vec<f64> = elements("text")
            .iter()
            .filter(|t| {
                let body = t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].trim();
                ["pca", "random", "null"].contains(&body)
            })
            .map(|t| attr(t, "x"))
            .collect();
        assert_eq!(legend.len(), 3, "{svg}");
        assert!(
            legend.iter().all(|&x| x > bars_right + 10.0),
            "{legend:?} vs {bars_right}"
        );
        // The only URL is the SVG namespace.
        assert_eq!(svg.matches("http").count(), 1);
        assert!(svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    }

    #[test]
    fn no_values_no_chart() {
        let groups = vec!["a".to_string()];
        let series = vec!["pca".to_string()];
        let bars = vec![vec![None]];
        let c = GroupedBars {
            title: "t",
            y_label: "y",
            groups: &groups,
            series: &series,
            bars: &bars,
            reference: None,
        };
        assert_eq!(grouped_bars(&c).unwrap(), None);
    }
}
