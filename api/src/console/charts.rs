//! Bar charts drawn on the server as inline SVG (no script, nothing loaded): jobs done and
//! failed per hour or per day, stacked.

use maud::{Markup, PreEscaped, html};

pub struct Bucket {
    /// Made by the console from a time (`14:00`, `12-03`): no markup to escape.
    pub label: String,
    pub done: i64,
    pub failed: i64,
}

pub fn bars(title: &str, buckets: &[Bucket]) -> Markup {
    let (width, height, top) = (600.0_f64, 160.0_f64, 10.0_f64);
    let most = buckets
        .iter()
        .map(|b| b.done + b.failed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let step = width / buckets.len().max(1) as f64;
    let bar = (step * 0.7).max(1.0);
    let scale = (height - top) / most;
    let total_done: i64 = buckets.iter().map(|b| b.done).sum();
    let total_failed: i64 = buckets.iter().map(|b| b.failed).sum();
    let mut svg = format!(
        r#"<svg viewBox="0 0 {width} {}" role="img" aria-label="{title}: {total_done} done, {total_failed} failed" preserveAspectRatio="none">"#,
        height + 18.0
    );
    for (i, b) in buckets.iter().enumerate() {
        let x = i as f64 * step + (step - bar) / 2.0;
        let done_h = b.done as f64 * scale;
        let failed_h = b.failed as f64 * scale;
        svg += &format!(
            r#"<g><title>{}: {} done, {} failed</title><rect class="done" x="{x:.1}" y="{:.1}" width="{bar:.1}" height="{done_h:.1}"/><rect class="failed" x="{x:.1}" y="{:.1}" width="{bar:.1}" height="{failed_h:.1}"/></g>"#,
            b.label,
            b.done,
            b.failed,
            height - done_h,
            height - done_h - failed_h,
        );
        // A label every few bars keeps the axis readable at phone width.
        let every = (buckets.len() / 6).max(1);
        if i % every == 0 {
            svg += &format!(
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                x,
                height + 14.0,
                b.label
            );
        }
    }
    svg += "</svg>";
    html! {
        figure.chart {
            figcaption { (title) " — " span.done-key { (total_done) " done" } ", " span.failed-key { (total_failed) " failed" } }
            (PreEscaped(svg))
        }
    }
}
