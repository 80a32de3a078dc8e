//! What the set says about itself beyond a session's coming and going: the pods it
//! serves on, that it serves on fewer than wanted, a refusal's hint, and its gauges.

use hopgate_protocol::HelloCode;
use hopgate_transport::Carrier;
use slog::warn;

use super::SessionSet;
use crate::{metrics::SetGauges, tunnel::one_line};

impl SessionSet<'_> {
    /// `; on pods pod-a, pod-b (2 of 2 wanted)` when more than one session is wanted.
    pub(super) fn pods_text(&self) -> String {
        let pods = self.plan.pods();
        if self.plan.wanted() < 2 || pods.is_empty() {
            return String::new();
        }
        let noun = if pods.len() == 1 { "pod" } else { "pods" };
        format!(
            "; on {noun} {} ({} of {} wanted)",
            pods.join(", "),
            self.plan.held(),
            self.plan.wanted()
        )
    }

    /// Says once per round that the set serves on fewer pods than wanted.
    pub(super) fn say_if_short(&mut self) {
        if let Some(text) = self.plan.short_of_pods() {
            eprintln!("{}: {text}", self.tunnel.settings.domain);
            warn!(self.tunnel.log, "{}", text; "sessions" => self.plan.held(),
                "wanted" => self.plan.wanted());
        }
    }

    /// The tunnel's gauges, from the sessions it holds now.
    pub(super) fn update_metrics(&self) {
        let over = |carrier| self.live.values().any(|r| r.carrier == carrier);
        self.tunnel.metrics.sessions(SetGauges {
            held: self.plan.held(),
            wanted: self.plan.wanted(),
            pods: self.plan.pods().len(),
            udp: over(Carrier::Udp),
            tcp: over(Carrier::Tcp),
        });
    }

    /// The tunnel's gauges once it holds no session.
    pub(super) fn update_metrics_down(&self) {
        self.tunnel.metrics.sessions(SetGauges {
            wanted: self.plan.wanted(),
            ..SetGauges::default()
        });
    }
}

/// The gateway's words on one line, or nothing.
pub(super) fn one_line_or_empty(text: &str) -> String {
    if text.trim().is_empty() {
        String::new()
    } else {
        one_line(text)
    }
}

/// What to do about a refusal that retrying won't fix.
pub(super) fn hint(code: HelloCode) -> &'static str {
    match code {
        HelloCode::BadKey => "check the API key",
        HelloCode::UnknownDomain => "check the domain; is it registered?",
        HelloCode::UnsupportedVersion => "upgrade the agent or the gateway",
        _ => "check the configuration",
    }
}
