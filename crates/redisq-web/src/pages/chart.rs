//! The processed/failed history chart, as inline SVG (no script, no library).

use std::fmt::Write as _;
use std::time::SystemTime;

use chrono::{DateTime, Utc};

use super::html::{Esc, num};

/// One day of the chart.
#[derive(Clone, Debug)]
pub(crate) struct Day {
    pub(crate) date: SystemTime,
    pub(crate) processed: u64,
    pub(crate) failed: u64,
}

/// A bar chart of `days` (oldest first): succeeded and failed stacked per day.
pub(crate) fn bars(days: &[Day]) -> String {
    const W: f64 = 720.0;
    const H: f64 = 180.0;
    const LEFT: f64 = 44.0;
    const BOTTOM: f64 = 20.0;
    const TOP: f64 = 8.0;
    let max = days
        .iter()
        .map(|d| d.processed.max(d.failed))
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = W - LEFT - 4.0;
    let plot_h = H - BOTTOM - TOP;
    let slot = plot_w / days.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"Processed and failed tasks per day\">"
    );
    // Axis and top label.
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{y}\" x2=\"{W}\" y2=\"{y}\"/>\
         <line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{W}\" y2=\"{TOP}\"/>\
         <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{}</text>\
         <text x=\"{tx}\" y=\"{y}\" text-anchor=\"end\">0</text>",
        num(max),
        y = H - BOTTOM,
        tx = LEFT - 4.0,
        ty = TOP + 10.0,
    );
    let label_every = (days.len() / 7).max(1);
    for (i, d) in days.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let ok = d.processed.saturating_sub(d.failed);
        let h_ok = plot_h * ok as f64 / max as f64;
        let h_bad = plot_h * d.failed as f64 / max as f64;
        let base = H - BOTTOM;
        let day = DateTime::<Utc>::from(d.date);
        let title = format!(
            "{}: {} processed, {} failed",
            day.format("%Y-%m-%d"),
            d.processed,
            d.failed
        );
        let _ = write!(
            svg,
            "<g><title>{}</title>\
             <rect class=\"ok\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{h_ok:.1}\"/>\
             <rect class=\"bad\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{h_bad:.1}\"/></g>",
            Esc(&title),
            base - h_ok - h_bad,
            base - h_bad,
        );
        if i % label_every == 0 || i + 1 == days.len() {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x + bar / 2.0,
                H - 5.0,
                day.format("%m-%d")
            );
        }
    }
    svg.push_str("</svg>");
    format!(
        "<div class=\"chart\">{svg}<div class=\"legend\"><span><span class=\"sw ok\"></span>succeeded</span>\
         <span><span class=\"sw bad\"></span>failed</span></div></div>"
    )
}
