//! The visitors' side: requests answered (by domain class, method and status) and how
//! long they took, body bytes through the tunnels, requests an access policy refused, and
//! requests in flight.
//!
//! - `hopgate_requests_total{domain_class,method,status}`;
//! - `hopgate_request_duration_seconds`: from arrival to the end of the answer's body;
//! - `hopgate_bytes_total{direction}`: `in` (visitor to agent) and `out`;
//! - `hopgate_access_denied_total{reason}`: one series per [`Denial`];
//! - `hopgate_requests_in_flight`: set at scrape time.

use std::time::Duration;

use hopgate_table::access::Denial;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};

use super::{Metrics, ReasonLabels};

/// Which kind of host a visitor asked for: a bounded stand-in for the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DomainClass {
    /// A registered tunnel domain.
    Tunnel,
    /// The gateway's own domain.
    Gateway,
    /// Neither (404), or no usable Host.
    Unknown,
}

impl DomainClass {
    fn label(self) -> &'static str {
        match self {
            Self::Tunnel => "tunnel",
            Self::Gateway => "gateway",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    domain_class: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

pub(super) struct VisitorMetrics {
    requests: Family<RequestLabels, Counter>,
    request_duration: Histogram,
    bytes_in: Counter,
    bytes_out: Counter,
    /// `hopgate_access_denied_total{reason}`, in [`Denial::ALL`]'s order.
    access_denied: [Counter; Denial::ALL.len()],
    /// `hopgate_requests_in_flight`.
    pub(super) in_flight: Gauge,
}

impl VisitorMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "hopgate_requests",
            "Visitor requests answered, by domain class, method and status",
            requests.clone(),
        );
        // 1 ms … ~65 s.
        let request_duration = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        registry.register_with_unit(
            "hopgate_request_duration",
            "Visitor requests from arrival to the end of the answer's body",
            Unit::Seconds,
            request_duration.clone(),
        );
        let (bytes_in, bytes_out) = register_bytes(registry);
        let access_denied = register_access_denied(registry);
        let in_flight = Gauge::default();
        registry.register(
            "hopgate_requests_in_flight",
            "Visitor requests with a live request actor",
            in_flight.clone(),
        );
        Self {
            requests,
            request_duration,
            bytes_in,
            bytes_out,
            access_denied,
            in_flight,
        }
    }
}

/// `hopgate_bytes_total{direction}`: the `in` and `out` counters.
fn register_bytes(registry: &mut Registry) -> (Counter, Counter) {
    let bytes = Family::<DirectionLabels, Counter>::default();
    let bytes_in = bytes
        .get_or_create(&DirectionLabels { direction: "in" })
        .clone();
    let bytes_out = bytes
        .get_or_create(&DirectionLabels { direction: "out" })
        .clone();
    // `hopgate` + unit `_bytes` + counter `_total` = `hopgate_bytes_total`.
    registry.register_with_unit(
        "hopgate",
        "Body bytes through the tunnels: in = visitor to agent, out = agent to visitor",
        Unit::Bytes,
        bytes,
    );
    (bytes_in, bytes_out)
}

/// `hopgate_access_denied_total{reason}`: one counter per [`Denial`], all exposed from the
/// start.
fn register_access_denied(registry: &mut Registry) -> [Counter; Denial::ALL.len()] {
    let family = Family::<ReasonLabels, Counter>::default();
    let counters = Denial::ALL.map(|denial| {
        family
            .get_or_create(&ReasonLabels {
                reason: denial.reason(),
            })
            .clone()
    });
    registry.register(
        "hopgate_access_denied",
        "Visitor requests refused by the domain's access policy: address denied (cidr_denied) \
         or not allowed (cidr_not_allowed), Basic credentials missing (auth_missing) or wrong \
         (auth_wrong)",
        family,
    );
    counters
}

impl Metrics {
    /// One answered request (or one that failed before an answer).
    pub(crate) fn request(&self, class: DomainClass, method: &str, status: u16, took: Duration) {
        let labels = RequestLabels {
            domain_class: class.label(),
            method: method_label(method),
            status,
        };
        self.visitor.requests.get_or_create(&labels).inc();
        self.visitor.request_duration.observe(took.as_secs_f64());
    }

    pub(crate) fn bytes_in(&self, n: usize) {
        self.visitor.bytes_in.inc_by(n as u64);
    }

    pub(crate) fn bytes_out(&self, n: usize) {
        self.visitor.bytes_out.inc_by(n as u64);
    }

    /// One request refused by an access policy.
    pub(crate) fn access_denied(&self, denial: Denial) {
        let index = Denial::ALL.iter().position(|d| *d == denial).unwrap_or(0);
        self.visitor.access_denied[index].inc();
    }
}

/// The method as a bounded label: the standard ones, else `other`.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}
