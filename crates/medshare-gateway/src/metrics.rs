//! Prometheus metrics (`prometheus-client`, OpenMetrics text at `/metrics`). Labels are sources,
//! fixed reason codes and kinds: never an identifier or any content.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub source: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub source: String,
    pub kind: String,
}

fn ack_histogram() -> Histogram {
    // 50 µs .. ~3 s
    Histogram::new(exponential_buckets(0.00005, 2.0, 16))
}

fn upload_histogram() -> Histogram {
    // 5 ms .. ~160 s
    Histogram::new(exponential_buckets(0.005, 2.0, 16))
}

/// Every metric the gateway exports.
pub struct Metrics {
    registry: Registry,
    pub received: Family<SourceLabel, Counter>,
    pub duplicates: Family<SourceLabel, Counter>,
    pub refused: Family<ReasonLabel, Counter>,
    pub uploaded: Family<KindLabel, Counter>,
    pub upload_retries: Family<ReasonLabel, Counter>,
    pub dead_letters: Family<ReasonLabel, Counter>,
    pub shares_skipped: Family<ReasonLabel, Counter>,
    pub ack_seconds: Family<SourceLabel, Histogram>,
    pub upload_seconds: Family<SourceLabel, Histogram>,
    pub connections: Family<SourceLabel, Gauge>,
    pub queue_items: Gauge,
    pub queue_bytes: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("medshare_gateway");
        let m = Self {
            received: Family::default(),
            duplicates: Family::default(),
            refused: Family::default(),
            uploaded: Family::default(),
            upload_retries: Family::default(),
            dead_letters: Family::default(),
            shares_skipped: Family::default(),
            ack_seconds: Family::new_with_constructor(ack_histogram),
            upload_seconds: Family::new_with_constructor(upload_histogram),
            connections: Family::default(),
            queue_items: Gauge::default(),
            queue_bytes: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "received",
            "Messages accepted into the durable queue",
            m.received.clone(),
        );
        registry.register(
            "duplicates",
            "Messages received again and acknowledged without queueing",
            m.duplicates.clone(),
        );
        registry.register(
            "refused",
            "Messages refused with a negative acknowledgement, by reason",
            m.refused.clone(),
        );
        registry.register("uploaded", "Items filed on the hub", m.uploaded.clone());
        registry.register(
            "upload_retries",
            "Upload attempts that will be retried, by reason",
            m.upload_retries.clone(),
        );
        registry.register(
            "dead_letters",
            "Items moved to the dead letters, by reason",
            m.dead_letters.clone(),
        );
        registry.register(
            "shares_skipped",
            "Shares the rules asked for that could not be given, by reason",
            m.shares_skipped.clone(),
        );
        registry.register(
            "ack_seconds",
            "From a message received to its acknowledgement sent (queued durably)",
            m.ack_seconds.clone(),
        );
        registry.register(
            "upload_seconds",
            "From an item claimed to filed on the hub",
            m.upload_seconds.clone(),
        );
        registry.register(
            "connections",
            "Open connections per input",
            m.connections.clone(),
        );
        registry.register(
            "queue_items",
            "Items waiting in the queue (not yet filed, dead letters included)",
            m.queue_items.clone(),
        );
        registry.register(
            "queue_bytes",
            "Bytes waiting in the queue",
            m.queue_bytes.clone(),
        );
        Arc::new(Self { registry, ..m })
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    pub fn source(s: crate::envelope::Source) -> SourceLabel {
        SourceLabel {
            source: s.as_str().into(),
        }
    }

    pub fn reason(s: crate::envelope::Source, reason: &str) -> ReasonLabel {
        ReasonLabel {
            source: s.as_str().into(),
            reason: reason.into(),
        }
    }
}

/// `GET /metrics` on its own listener.
pub fn router(m: Arc<Metrics>) -> axum::Router {
    use axum::http::header;
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let m = m.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    m.encode(),
                )
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Source;

    #[test]
    fn exposition_names_sources_and_reasons_only() {
        let m = Metrics::new();
        m.received
            .get_or_create(&Metrics::source(Source::Hl7))
            .inc();
        m.refused
            .get_or_create(&Metrics::reason(Source::Hl7, "no-patient-identifier"))
            .inc();
        m.ack_seconds
            .get_or_create(&Metrics::source(Source::Hl7))
            .observe(0.001);
        let text = m.encode();
        assert!(
            text.contains("medshare_gateway_received_total{source=\"hl7\"} 1"),
            "{text}"
        );
        assert!(text.contains("reason=\"no-patient-identifier\""));
        assert!(text.contains("medshare_gateway_ack_seconds_bucket"));
        assert!(text.ends_with("# EOF\n"));
    }
}
