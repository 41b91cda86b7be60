//! `GET /metrics`: Prometheus text exposition (format 0.0.4), written by hand.
//!
//! - `wkserver_requests_total{route,status}`: requests answered;
//! - `wkserver_request_duration_seconds{route}`: a latency histogram;
//! - `wkserver_sessions`, `wkserver_open_stores`, `wkserver_connections`: gauges;
//! - `wkserver_store_*{store}`: each open store's engine statistics, the store named by its path
//!   relative to the data directory.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Route patterns, as the router names them; anything else is counted as `unmatched`.
pub(crate) const ROUTES: [&str; 16] = [
    "/",
    "/api/health",
    "/api/open",
    "/api/close",
    "/api/put",
    "/api/get",
    "/api/del",
    "/api/id/get",
    "/api/id/set",
    "/api/current",
    "/api/compact",
    "/api/execute",
    "/api/scan",
    "/api/stats",
    "/metrics",
    "unmatched",
];

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

/// The route's name from [`ROUTES`] (a static string, safe to log and to label with).
pub(crate) fn route_name(matched: Option<&str>) -> &'static str {
    matched.and_then(|m| ROUTES.iter().copied().find(|r| *r == m)).unwrap_or("unmatched")
}

#[derive(Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

/// Counters every request updates (one short lock per request).
#[derive(Default)]
pub(crate) struct Metrics {
    routes: Mutex<HashMap<&'static str, RouteStats>>,
    /// Connections open now.
    pub(crate) connections: AtomicUsize,
}

impl Metrics {
    pub(crate) fn record(&self, route: &'static str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        let stats = routes.entry(route).or_default();
        *stats.by_status.entry(status).or_default() += 1;
        stats.count += 1;
        stats.sum_seconds += seconds;
        if let Some(i) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            stats.buckets[i] += 1;
        }
    }

    /// The exposition text; `stores` are (name, statistics) of the open stores.
    pub(crate) fn render(
        &self,
        sessions: usize,
        open_stores: usize,
        stores: &[(String, crate::Stats)],
    ) -> String {
        let mut out = String::new();
        let routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<&&str> = routes.keys().collect();
        names.sort();
        out.push_str("# HELP wkserver_requests_total Requests answered, by route and status.\n");
        out.push_str("# TYPE wkserver_requests_total counter\n");
        for name in &names {
            for (status, n) in &routes[**name].by_status {
                let _ = writeln!(out, "wkserver_requests_total{{route=\"{name}\",status=\"{status}\"}} {n}");
            }
        }
        out.push_str("# HELP wkserver_request_duration_seconds Time from request to answer, by route.\n");
        out.push_str("# TYPE wkserver_request_duration_seconds histogram\n");
        for name in &names {
            let stats = &routes[**name];
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(stats.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "wkserver_request_duration_seconds_bucket{{route=\"{name}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "wkserver_request_duration_seconds_bucket{{route=\"{name}\",le=\"+Inf\"}} {}",
                stats.count
            );
            let _ = writeln!(
                out,
                "wkserver_request_duration_seconds_sum{{route=\"{name}\"}} {}",
                stats.sum_seconds
            );
            let _ =
                writeln!(out, "wkserver_request_duration_seconds_count{{route=\"{name}\"}} {}", stats.count);
        }
        drop(routes);
        let gauges = [
            ("wkserver_sessions", "Sessions open.", sessions),
            ("wkserver_open_stores", "Stores open.", open_stores),
            ("wkserver_connections", "HTTP connections open.", self.connections.load(Ordering::Relaxed)),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        type Field = fn(&crate::Stats) -> u64;
        let fields: [(&str, &str, &str, Field); 7] = [
            ("wkserver_store_keys", "gauge", "Keys in the store.", |s| s.key_count),
            ("wkserver_store_file_bytes", "gauge", "Size of the store file.", |s| s.file_bytes),
            ("wkserver_store_log_bytes", "gauge", "Size of the store's log.", |s| s.log_bytes),
            ("wkserver_store_pages", "gauge", "Pages in the store file.", |s| s.page_count),
            ("wkserver_store_free_pages", "gauge", "Free pages in the store file.", |s| s.free_pages),
            ("wkserver_store_cache_hits_total", "counter", "Page cache hits.", |s| s.cache_hits),
            ("wkserver_store_cache_misses_total", "counter", "Page cache misses.", |s| s.cache_misses),
        ];
        for (name, kind, help, field) in fields {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (store, stats) in stores {
                let _ = writeln!(out, "{name}{{store=\"{}\"}} {}", label_value(store), field(stats));
            }
        }
        out
    }
}

/// A label value escaped as the exposition format asks: backslash, quote and newline.
fn label_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_histograms_render() {
        let metrics = Metrics::default();
        metrics.record("/api/get", 200, Duration::from_micros(300));
        metrics.record("/api/get", 200, Duration::from_secs(3));
        metrics.record("/api/get", 401, Duration::from_micros(50));
        let text = metrics.render(2, 1, &[]);
        assert!(text.contains("wkserver_requests_total{route=\"/api/get\",status=\"200\"} 2\n"), "{text}");
        assert!(text.contains("wkserver_requests_total{route=\"/api/get\",status=\"401\"} 1\n"));
        assert!(
            text.contains("wkserver_request_duration_seconds_bucket{route=\"/api/get\",le=\"0.0001\"} 1\n")
        );
        assert!(
            text.contains("wkserver_request_duration_seconds_bucket{route=\"/api/get\",le=\"0.0005\"} 2\n")
        );
        assert!(
            text.contains("wkserver_request_duration_seconds_bucket{route=\"/api/get\",le=\"+Inf\"} 3\n")
        );
        assert!(text.contains("wkserver_sessions 2\n"));
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(route_name(Some("/api/get")), "/api/get");
        assert_eq!(route_name(Some("/nope")), "unmatched");
    }
}
