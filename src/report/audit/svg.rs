//! Inline SVG charts for the HTML report: no scripts, no fonts fetched, text escaped.

use std::fmt::Write;

use super::{Timeline, VerdictBar};
use crate::report::escape::escape_html;

const COLORS: [&str; 8] = [
    "#2b6cb0", "#38a169", "#d69e2e", "#c53030", "#805ad5", "#319795", "#dd6b20", "#718096",
];

fn color(i: usize) -> &'static str {
    COLORS.get(i % COLORS.len()).copied().unwrap_or("#718096")
}

fn legend(out: &mut String, names: &[String], y: f64) {
    let mut x = 10.0;
    for (i, name) in names.iter().enumerate() {
        let _ = write!(
            out,
            r#"<rect x="{x:.0}" y="{y:.0}" width="12" height="12" fill="{}"/><text x="{:.0}" y="{:.0}" font-size="12">{}</text>"#,
            color(i),
            x + 16.0,
            y + 11.0,
            escape_html(name)
        );
        x += 24.0 + 8.0 * name.len() as f64;
    }
}

/// Horizontal bars, one per service area, split by port verdict (bytes).
pub fn verdict_chart(bars: &[VerdictBar]) -> String {
    let verdicts: Vec<String> = bars
        .first()
        .map(|b| b.parts.iter().map(|(v, _)| v.clone()).collect())
        .unwrap_or_default();
    let max: i64 = bars
        .iter()
        .map(|b| b.parts.iter().map(|p| p.1).sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (label_w, bar_w, row_h) = (150.0, 560.0, 26.0);
    let height = 40.0 + row_h * bars.len() as f64 + 10.0;
    let mut out = format!(
        r#"<svg class="chart" id="verdict-chart" xmlns="http://www.w3.org/2000/svg" width="760" height="{height:.0}" viewBox="0 0 760 {height:.0}" role="img" aria-label="Office 365 bytes per service area and port verdict">"#
    );
    legend(&mut out, &verdicts, 6.0);
    for (row, bar) in bars.iter().enumerate() {
        let y = 30.0 + row_h * row as f64;
        let _ = write!(
            out,
            r#"<text x="{:.0}" y="{:.0}" font-size="12" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            y + 16.0,
            escape_html(&bar.service_area)
        );
        let mut x = label_w;
        for (i, (verdict, bytes)) in bar.parts.iter().enumerate() {
            if *bytes <= 0 {
                continue;
            }
            let w = bar_w * (*bytes as f64) / (max as f64);
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{:.0}" width="{w:.1}" height="20" fill="{}"><title>{} {}: {bytes} bytes</title></rect>"#,
                y + 2.0,
                color(i),
                escape_html(&bar.service_area),
                escape_html(verdict)
            );
            x += w;
        }
    }
    out.push_str("</svg>");
    out
}

/// Stacked columns of Office 365 bytes per time bucket, by service area.
pub fn timeline_chart(timeline: &Timeline) -> String {
    let mut areas: Vec<String> = timeline.points.iter().map(|p| p.1.clone()).collect();
    areas.sort();
    areas.dedup();
    let mut buckets: Vec<i64> = timeline.points.iter().map(|p| p.0).collect();
    buckets.sort_unstable();
    buckets.dedup();
    let total = |b: i64| -> i64 {
        timeline
            .points
            .iter()
            .filter(|p| p.0 == b)
            .map(|p| p.2)
            .sum()
    };
    let max = buckets.iter().map(|b| total(*b)).max().unwrap_or(0).max(1);
    let (left, top, plot_w, plot_h) = (40.0, 30.0, 700.0, 180.0);
    let col_w = plot_w / (buckets.len().max(1) as f64);
    let mut out = format!(
        r#"<svg class="chart" id="timeline-chart" xmlns="http://www.w3.org/2000/svg" width="760" height="250" viewBox="0 0 760 250" role="img" aria-label="Office 365 bytes over time by service area (buckets of {} s)">"#,
        timeline.bucket_seconds
    );
    legend(&mut out, &areas, 6.0);
    let _ = write!(
        out,
        r##"<line x1="{left}" y1="{:.0}" x2="{:.0}" y2="{:.0}" stroke="#444"/>"##,
        top + plot_h,
        left + plot_w,
        top + plot_h
    );
    for (i, bucket) in buckets.iter().enumerate() {
        let x = left + col_w * i as f64;
        let mut y = top + plot_h;
        for (a, area) in areas.iter().enumerate() {
            let bytes: i64 = timeline
                .points
                .iter()
                .filter(|p| p.0 == *bucket && &p.1 == area)
                .map(|p| p.2)
                .sum();
            if bytes <= 0 {
                continue;
            }
            let h = plot_h * (bytes as f64) / (max as f64);
            y -= h;
            let when = crate::time::Timestamp(*bucket).rfc3339(crate::time::Precision::Micro);
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{} {}: {bytes} bytes</title></rect>"#,
                (col_w - 1.0).max(1.0),
                color(a),
                escape_html(&when),
                escape_html(area)
            );
        }
    }
    if let (Some(first), Some(last)) = (buckets.first(), buckets.last()) {
        for (x, t, anchor) in [(left, *first, "start"), (left + plot_w, *last, "end")] {
            let when = crate::time::Timestamp(t).rfc3339(crate::time::Precision::Micro);
            let _ = write!(
                out,
                r#"<text x="{x:.0}" y="{:.0}" font-size="11" text-anchor="{anchor}">{}</text>"#,
                top + plot_h + 16.0,
                escape_html(when.get(..19).unwrap_or(&when))
            );
        }
    }
    out.push_str("</svg>");
    out
}
