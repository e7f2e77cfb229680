//! `boost-bench chart [RESULTS] [SVG]`: draws the figures of
//! [`crate::results`] as one SVG of horizontal bars, a panel per unit
//! (events/s, calls/s, ms, MB), durable and memory broker in two colours.
//!
//! For each bench it draws the latest run that recorded it, so a chart after
//! `BENCH=query make bench` still shows the last ingest figures. Rates and
//! latencies use a logarithmic axis (they span four orders of magnitude:
//! the memory broker's bare producer beside a Track rate, 0.1 ms beside
//! seconds); memory is linear from zero.

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use serde_json::Value;

/// One figure read back from the results file.
struct Figure {
    run: String,
    bench: String,
    broker: String,
    label: String,
    unit: String,
    value: f64,
}

/// Panels in this order; other units follow alphabetically.
const UNIT_ORDER: [&str; 4] = ["events/s", "calls/s", "ms", "MB"];
const WIDTH: f64 = 1000.0;
const LABEL_WIDTH: f64 = 470.0;
const BAR_WIDTH: f64 = 380.0;
const ROW: f64 = 17.0;
const PANEL_GAP: f64 = 34.0;

fn colour(broker: &str) -> &'static str {
    if broker == "memory" {
        "#e8883a"
    } else {
        "#3a78b8"
    }
}

/// Escapes text for SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn parse(line: &str) -> Option<Figure> {
    let v: Value = serde_json::from_str(line).ok()?;
    let text = |k: &str| v.get(k)?.as_str().map(str::to_string);
    Some(Figure {
        run: text("run")?,
        bench: text("bench")?,
        broker: text("broker")?,
        label: format!("{} · {}", text("phase")?, text("metric")?),
        unit: text("unit")?,
        value: v.get("value")?.as_f64()?,
    })
}

/// The latest run of every bench on each broker, its figures in recorded
/// order (a figure recorded twice in a run keeps its last value).
fn latest(figures: Vec<Figure>) -> Vec<Figure> {
    let mut last_run: BTreeMap<(String, String), String> = BTreeMap::new();
    for f in &figures {
        last_run.insert((f.bench.clone(), f.broker.clone()), f.run.clone());
    }
    let mut kept: Vec<Figure> = Vec::new();
    for f in figures {
        if last_run.get(&(f.bench.clone(), f.broker.clone())) != Some(&f.run) {
            continue;
        }
        if let Some(same) = kept
            .iter_mut()
            .find(|k| k.bench == f.bench && k.broker == f.broker && k.label == f.label)
        {
            same.value = f.value;
        } else {
            kept.push(f);
        }
    }
    kept
}

fn format_value(value: f64, unit: &str) -> String {
    if value >= 1000.0 {
        let whole = format!("{value:.0}");
        let mut grouped = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        format!("{grouped} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

/// Renders `figures` (already reduced by [`latest`]) as an SVG document.
fn render(figures: &[Figure]) -> String {
    let mut units: Vec<&str> = figures.iter().map(|f| f.unit.as_str()).collect();
    units.sort_by_key(|u| {
        (
            UNIT_ORDER
                .iter()
                .position(|o| o == u)
                .unwrap_or(UNIT_ORDER.len()),
            *u,
        )
    });
    units.dedup();
    let mut body = String::new();
    let mut y = 40.0;
    for unit in units {
        // Durable and memory figures of the same phase side by side, benches
        // and phases in the order they were first recorded.
        let first = |key: &dyn Fn(&Figure) -> bool| figures.iter().position(key).unwrap_or(0);
        let mut rows: Vec<&Figure> = figures.iter().filter(|f| f.unit == unit).collect();
        rows.sort_by_key(|f| {
            (
                first(&|g| g.bench == f.bench),
                first(&|g| g.bench == f.bench && g.label == f.label),
                f.broker != "durable",
            )
        });
        let log = unit != "MB";
        let max = rows.iter().map(|f| f.value).fold(0.0, f64::max);
        let min_positive = rows
            .iter()
            .map(|f| f.value)
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        let (low, high) = if log {
            (
                min_positive.min(1.0).log10().floor(),
                max.max(1.0).log10().ceil(),
            )
        } else {
            (0.0, max.max(f64::MIN_POSITIVE))
        };
        let scale = |v: f64| {
            let x = if log {
                (v.max(10f64.powf(low)).log10() - low) / (high - low).max(1.0)
            } else {
                v / high
            };
            (x * BAR_WIDTH).max(1.0)
        };
        let axis = if log { ", log scale" } else { "" };
        let _ = writeln!(
            body,
            r#"<text x="10" y="{y}" font-weight="bold">{}{axis}</text>"#,
            escape(unit)
        );
        y += 8.0;
        let mut bench = "";
        for f in rows {
            if f.bench != bench {
                bench = &f.bench;
                y += ROW;
                let _ = writeln!(
                    body,
                    r##"<text x="10" y="{}" fill="#555">{}</text>"##,
                    y - 3.0,
                    escape(bench)
                );
            }
            y += ROW;
            let _ = writeln!(
                body,
                r#"<text x="24" y="{}">{}</text><rect x="{LABEL_WIDTH}" y="{}" width="{:.1}" height="{}" fill="{}"/><text x="{:.1}" y="{}">{}</text>"#,
                y - 3.0,
                escape(&f.label),
                y - ROW + 3.0,
                scale(f.value),
                ROW - 4.0,
                colour(&f.broker),
                LABEL_WIDTH + scale(f.value) + 5.0,
                y - 3.0,
                escape(&format_value(f.value, unit)),
            );
        }
        y += PANEL_GAP;
    }
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="15" font-weight="bold">Boost make bench: latest run of each bench</text>
<rect x="{legend}" y="9" width="12" height="12" fill="{durable}"/><text x="{legend_text}" y="20">durable tansu (sqlite)</text>
<rect x="{legend2}" y="9" width="12" height="12" fill="{memory}"/><text x="{legend2_text}" y="20">tansu memory storage</text>
{body}</svg>
"##,
        height = y,
        legend = WIDTH - 330.0,
        legend_text = WIDTH - 314.0,
        legend2 = WIDTH - 160.0,
        legend2_text = WIDTH - 144.0,
        durable = colour("durable"),
        memory = colour("memory"),
    )
}

/// `boost-bench chart`.
pub fn chart(results: &Path, svg: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(results).map_err(|e| {
        anyhow::anyhow!(
            "cannot read {}: {e} (run `make bench` first)",
            results.display()
        )
    })?;
    let figures: Vec<Figure> = text.lines().filter_map(parse).collect();
    anyhow::ensure!(!figures.is_empty(), "no figures in {}", results.display());
    let figures = latest(figures);
    if let Some(dir) = svg.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(svg, render(&figures))?;
    eprintln!(
        "chart of {} figures written to {}",
        figures.len(),
        svg.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(run: &str, bench: &str, label: &str, value: f64) -> Figure {
        Figure {
            run: run.into(),
            bench: bench.into(),
            broker: "durable".into(),
            label: label.into(),
            unit: "ms".into(),
            value,
        }
    }

    #[test]
    fn keeps_the_latest_run_of_each_bench() {
        let kept = latest(vec![
            figure("1", "ingest", "a · p50", 1.0),
            figure("1", "query", "q · p50", 5.0),
            figure("2", "ingest", "a · p50", 2.0),
            figure("2", "ingest", "a · p50", 3.0),
            Figure {
                broker: "memory".into(),
                ..figure("0", "ingest", "a · p50", 9.0)
            },
        ]);
        let values: Vec<(String, f64)> = kept.iter().map(|f| (f.bench.clone(), f.value)).collect();
        assert_eq!(
            values,
            [
                ("query".into(), 5.0),
                ("ingest".into(), 3.0),
                ("ingest".into(), 9.0)
            ]
        );
    }

    #[test]
    fn groups_thousands_and_escapes_labels() {
        assert_eq!(format_value(133_090.4, "events/s"), "133,090 events/s");
        assert_eq!(format_value(3.456, "ms"), "3.46 ms");
        let svg = render(&[figure("1", "ingest", "a < b", 2.0)]);
        assert!(svg.contains("a &lt; b"));
    }
}
