//! Process-wide counters and histograms, exposed in the Prometheus text format by
//! `GET /metrics` (together with gauges read from the database at scrape time).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{LazyLock, Mutex};

const DURATION_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0];

#[derive(Default)]
struct Histogram {
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Registry {
    /// (name, labels) → value
    counters: BTreeMap<(&'static str, String), f64>,
    histograms: BTreeMap<(&'static str, String), Histogram>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

fn labels(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}=\"{}\"",
                v.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Adds `by` to counter `name{labels}`.
pub fn count(name: &'static str, pairs: &[(&str, &str)], by: f64) {
    if let Ok(mut r) = REGISTRY.lock() {
        *r.counters.entry((name, labels(pairs))).or_default() += by;
    }
}

/// Records one observation (seconds) in histogram `name{labels}`.
pub fn observe(name: &'static str, pairs: &[(&str, &str)], seconds: f64) {
    if let Ok(mut r) = REGISTRY.lock() {
        let h = r.histograms.entry((name, labels(pairs))).or_default();
        for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.buckets[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }
}

/// Everything recorded in this process, in the text exposition format.
pub fn render() -> String {
    let mut out = String::new();
    let Ok(r) = REGISTRY.lock() else { return out };
    let mut last = "";
    for ((name, labels), value) in &r.counters {
        if *name != last {
            let _ = writeln!(out, "# TYPE {name} counter");
            last = name;
        }
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
    for ((name, labels), h) in &r.histograms {
        if *name != last {
            let _ = writeln!(out, "# TYPE {name} histogram");
            last = name;
        }
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, n) in DURATION_BUCKETS.iter().zip(h.buckets) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_the_prometheus_format() {
        count("test_things_total", &[("kind", "a\"b")], 2.0);
        observe("test_seconds", &[("type", "x")], 0.2);
        let text = render();
        assert!(
            text.contains("# TYPE test_things_total counter\ntest_things_total{kind=\"a\\\"b\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("test_seconds_bucket{type=\"x\",le=\"0.1\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("test_seconds_bucket{type=\"x\",le=\"0.25\"} 1"),
            "{text}"
        );
        assert!(text.contains("test_seconds_count{type=\"x\"} 1"), "{text}");
    }
}
