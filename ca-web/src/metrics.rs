//! The metrics in Prometheus' text exposition format (version 0.0.4), through the
//! `prometheus` crate: what the log holds (the same on every node of a shared log), and how
//! long this server took to answer, by route group (this node's own).

use std::time::Duration;

use ca_core::metrics::Snapshot;
use ca_core::{Choice, LogLocation};
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts,
};

/// The content type of the text exposition format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the latency buckets, in seconds: a page answers in a millisecond, a PFX with
/// a new RSA-4096 key or an ACME validation in seconds, and a request's deadline is 60 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The route groups, every label [`group`] gives, the busiest first (each request finds its
/// group's histogram by going down the list).
const GROUPS: [&str; 9] = [
    "downloads",
    "ocsp",
    "enrollment",
    "acme",
    "pages",
    "admin",
    "static",
    "metrics",
    "other",
];

/// What this server measures itself: request latency by route group.
pub(crate) struct Recorder {
    latency: HistogramVec,
    /// Each group's histogram, looked up once: a lookup by label hashes it and takes a lock,
    /// which cost every request more than the count itself. Every group is exported from the
    /// start, at zero (Prometheus' advice for labels known in advance).
    groups: Vec<(&'static str, Histogram)>,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        let opts = HistogramOpts::new(
            "ca_http_request_duration_seconds",
            "Time from a request's arrival to its answer's headers, by route group.",
        )
        .buckets(LATENCY_BUCKETS.to_vec());
        // The name, help and buckets above are valid (tested below): this cannot fail.
        #[allow(clippy::expect_used)]
        let latency = HistogramVec::new(opts, &["group"]).expect("a valid histogram");
        let groups = GROUPS
            .iter()
            .map(|group| (*group, latency.with_label_values(&[group])))
            .collect();
        Recorder { latency, groups }
    }

    /// Counts a request of `group` that took `elapsed`.
    pub(crate) fn observe(&self, group: &'static str, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        match self.groups.iter().find(|(name, _)| *name == group) {
            Some((_, histogram)) => histogram.observe(seconds),
            None => self.latency.with_label_values(&[group]).observe(seconds),
        }
    }

    /// The whole exposition: `snapshot` of the log, build information, and the latencies.
    pub(crate) fn render(
        &self,
        snapshot: &Snapshot,
        log: &LogLocation,
    ) -> Result<String, prometheus::Error> {
        let registry = prometheus::Registry::new();
        registry.register(Box::new(self.latency.clone()))?;

        let build = GaugeVec::new(
            Opts::new(
                "ca_build_info",
                "The version of ca answering, and where its log is (sqlite or postgres); always 1.",
            ),
            &["version", "backend"],
        )?;
        let backend = match log {
            LogLocation::File(_) => "sqlite",
            LogLocation::Postgres(_) => "postgres",
        };
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION"), backend])
            .set(1.0);
        registry.register(Box::new(build))?;

        let counts = &snapshot.counts;
        let certificates = GaugeVec::new(
            Opts::new(
                "ca_certificates",
                "Rows of the log by status, as `ca list --status` lists them: certificates valid, expired or revoked, requests pending or denied.",
            ),
            &["status"],
        )?;
        for (status, count) in &counts.by_status {
            certificates
                .with_label_values(&[status.name()])
                .set(*count as f64);
        }
        registry.register(Box::new(certificates))?;

        let issued = IntCounterVec::new(
            Opts::new(
                "ca_issuances_total",
                "Certificates issued, by where their request came from (cli, csr, web, renewal, acme).",
            ),
            &["source"],
        )?;
        for (source, count) in &counts.issued {
            issued.with_label_values(&[source.name()]).inc_by(*count);
        }
        registry.register(Box::new(issued))?;

        let denied = IntCounterVec::new(
            Opts::new(
                "ca_refusals_total",
                "Requests refused by the rules or denied by an administrator, by where they came from.",
            ),
            &["source"],
        )?;
        for (source, count) in &counts.denied {
            denied.with_label_values(&[source.name()]).inc_by(*count);
        }
        registry.register(Box::new(denied))?;

        if let Some(soonest) = counts.soonest_expiry {
            let at = Gauge::new(
                "ca_certificate_soonest_expiry_timestamp_seconds",
                "The earliest notAfter (Unix time) of a valid certificate not yet renewed; the certificates the server and the OCSP responder make for themselves are left out.",
            )?;
            at.set(soonest.unix_timestamp() as f64);
            registry.register(Box::new(at))?;
            let days = Gauge::new(
                "ca_certificate_soonest_expiry_days",
                "Days until that notAfter.",
            )?;
            days.set((soonest - snapshot.at).as_seconds_f64() / 86_400.0);
            registry.register(Box::new(days))?;
        }

        if let Some(crl) = &snapshot.crl {
            let gauges = [
                (
                    "ca_crl_number",
                    "The cRLNumber of the CRL the log holds (RFC 5280 §5.2.3).",
                    crl.number as f64,
                ),
                (
                    "ca_crl_this_update_timestamp_seconds",
                    "That CRL's thisUpdate (Unix time).",
                    crl.this_update.unix_timestamp() as f64,
                ),
                (
                    "ca_crl_next_update_timestamp_seconds",
                    "That CRL's nextUpdate (Unix time): clients refuse it after this.",
                    crl.next_update.unix_timestamp() as f64,
                ),
                (
                    "ca_crl_age_seconds",
                    "Seconds since that CRL's thisUpdate.",
                    (snapshot.at - crl.this_update).as_seconds_f64(),
                ),
            ];
            for (name, help, value) in gauges {
                let gauge = Gauge::new(name, help)?;
                gauge.set(value);
                registry.register(Box::new(gauge))?;
            }
        }

        let mut out = Vec::new();
        prometheus::TextEncoder::new().encode(&registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|err| prometheus::Error::Msg(err.to_string()))
    }
}

/// The route group of a request's path, the latency histogram's label: a handful of values,
/// whatever paths clients send.
pub(crate) fn group(path: &str) -> &'static str {
    let path = path.to_ascii_lowercase();
    let path = path.as_str();
    if path.starts_with("/acme/") {
        "acme"
    } else if path == "/ocsp" || path.starts_with("/ocsp/") {
        "ocsp"
    } else if path == "/metrics" {
        "metrics"
    } else if path.starts_with("/certsrv/static/") {
        "static"
    } else if path.starts_with("/certsrv/admin") || path == "/certsrv/certrqma.asp" {
        "admin"
    } else if path == "/certsrv/certfnsh.asp" {
        "enrollment"
    } else if matches!(
        path,
        "/certsrv/certnew.cer"
            | "/certsrv/certnew.p7b"
            | "/certsrv/certcrl.crl"
            | "/certsrv/ca.crl"
            | "/certsrv/ca.cer"
            | "/certsrv/ca.mobileconfig"
    ) {
        "downloads"
    } else if path == "/" || path == "/certsrv" || path.starts_with("/certsrv/") {
        "pages"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_histogram_is_valid_and_counts_each_group_apart() {
        let recorder = Recorder::new();
        let count = |group: &str| {
            recorder
                .latency
                .with_label_values(&[group])
                .get_sample_count()
        };
        for group in GROUPS {
            assert_eq!(count(group), 0, "{group}");
        }
        recorder.observe("pages", Duration::from_millis(3));
        recorder.observe("downloads", Duration::from_millis(1));
        recorder.observe("downloads", Duration::from_millis(2));
        for group in GROUPS {
            let expected = match group {
                "pages" => 1,
                "downloads" => 2,
                _ => 0,
            };
            assert_eq!(count(group), expected, "{group}");
        }
        // Every group is exported, at zero before its first request.
        let families = {
            let registry = prometheus::Registry::new();
            registry
                .register(Box::new(recorder.latency.clone()))
                .unwrap();
            registry.gather()
        };
        assert_eq!(families[0].get_metric().len(), GROUPS.len());
    }

    #[test]
    fn every_group_a_path_can_have_is_known() {
        for path in [
            "/",
            "/certsrv",
            "/certsrv/",
            "/certsrv/certnew.cer",
            "/certsrv/ca.crl",
            "/certsrv/certfnsh.asp",
            "/certsrv/admin",
            "/certsrv/static/x",
            "/acme/x",
            "/ocsp",
            "/metrics",
            "/x",
        ] {
            assert!(GROUPS.contains(&group(path)), "{path}");
        }
    }

    #[test]
    fn groups_paths_into_a_few_labels() {
        for (path, group_name) in [
            ("/certsrv/", "pages"),
            ("/CertSrv/CertNew.cer", "downloads"),
            ("/certsrv/certfnsh.asp", "enrollment"),
            ("/certsrv/admin/revoke", "admin"),
            ("/certsrv/certrqma.asp", "admin"),
            ("/acme/new-order", "acme"),
            ("/ocsp/MEow", "ocsp"),
            ("/metrics", "metrics"),
            ("/certsrv/static/style.css", "static"),
            ("/wp-login.php", "other"),
            ("/ocspx", "other"),
        ] {
            assert_eq!(group(path), group_name, "{path}");
        }
    }
}
