//! Issue 18's traffic budgets for the `propagation` scenario: gossip
//! efficiency while publishing and the cost of an idle federation.
//!
//! `mutua-testnet run propagation --budgets` fails when one is exceeded (the
//! full runs: `--nodes 10` and `--nodes 40`); otherwise, as in the default
//! suite's small run, they are printed and behaviour is checked instead.

use std::fmt::Write as _;

use serde::Serialize;

use super::Run;
use crate::report::{IdleTraffic, PublishTraffic};
use crate::Error;

/// At most this many bytes received (all libp2p traffic of every node:
/// gossip copies, control messages, sync, ping, identify, Kademlia) per
/// unique byte (each envelope × the N − 1 nodes that had to receive it),
/// from the first publish until every replica converged.
pub const MAX_BYTES_PER_UNIQUE_BYTE: f64 = 3.5;

/// At most this many bytes a second per connection (in + out, as counted at
/// one end) while the converged federation is idle.
pub const MAX_IDLE_BYTES_PER_SEC_PER_CONNECTION: f64 = 50.0;

/// The budgets, what was measured against them, and what failed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TrafficBudgets {
    pub max_bytes_per_unique_byte: f64,
    pub bytes_per_unique_byte: Option<f64>,
    pub max_idle_bytes_per_sec_per_connection: f64,
    /// `None` when the run had no idle window (`--idle-secs 0`).
    pub idle_bytes_per_sec_per_connection: Option<f64>,
    /// Whether a failure fails the run.
    pub enforced: bool,
    /// The budgets exceeded, in words (empty: all met).
    pub failures: Vec<String>,
}

impl TrafficBudgets {
    /// Judges the measured traffic against the budgets.
    pub fn judge(
        publish: Option<&PublishTraffic>,
        idle: Option<&IdleTraffic>,
        enforced: bool,
    ) -> Self {
        let ratio = publish.and_then(|t| t.bytes_per_unique_byte);
        let idle_rate = idle.and_then(|t| t.bytes_per_sec_per_connection);
        let mut failures = Vec::new();
        match ratio {
            Some(r) if r <= MAX_BYTES_PER_UNIQUE_BYTE => {}
            Some(r) => failures.push(format!(
                "{r:.2} bytes received per unique byte while publishing > {MAX_BYTES_PER_UNIQUE_BYTE}"
            )),
            None => failures.push("publishing traffic was not measured".into()),
        }
        if let Some(rate) = idle_rate {
            if rate > MAX_IDLE_BYTES_PER_SEC_PER_CONNECTION {
                failures.push(format!(
                    "idle {rate:.1} B/s per connection > {MAX_IDLE_BYTES_PER_SEC_PER_CONNECTION}"
                ));
            }
        }
        TrafficBudgets {
            max_bytes_per_unique_byte: MAX_BYTES_PER_UNIQUE_BYTE,
            bytes_per_unique_byte: ratio,
            max_idle_bytes_per_sec_per_connection: MAX_IDLE_BYTES_PER_SEC_PER_CONNECTION,
            idle_bytes_per_sec_per_connection: idle_rate,
            enforced,
            failures,
        }
    }

    /// One line for the summary.
    pub fn line(&self) -> String {
        let show = |v: Option<f64>| v.map_or_else(|| "–".into(), |v| format!("{v:.2}"));
        let mut s = format!(
            "traffic budgets{}: {} bytes per unique byte (≤ {}); idle {} B/s per connection (≤ {})",
            if self.enforced { "" } else { " (figures only)" },
            show(self.bytes_per_unique_byte),
            self.max_bytes_per_unique_byte,
            show(self.idle_bytes_per_sec_per_connection),
            self.max_idle_bytes_per_sec_per_connection,
        );
        if self.failures.is_empty() {
            s.push_str(": met");
        } else {
            let _ = write!(s, "; EXCEEDED: {}", self.failures.join("; "));
        }
        s
    }
}

impl Run<'_> {
    /// Judges the run's traffic; with `enforced`, an exceeded budget fails it.
    pub(super) fn judge_traffic(&mut self, enforced: bool) -> Result<(), Error> {
        let budgets = TrafficBudgets::judge(
            self.report.publish_traffic.as_ref(),
            self.report.idle_traffic.as_ref(),
            enforced,
        );
        let failed = (enforced && !budgets.failures.is_empty()).then(|| budgets.line());
        self.report.traffic_budgets = Some(budgets);
        failed.map_or(Ok(()), |line| Err(Error::Check(line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(ratio: f64) -> PublishTraffic {
        PublishTraffic {
            bytes_per_unique_byte: Some(ratio),
            ..PublishTraffic::default()
        }
    }

    fn idle(rate: f64) -> IdleTraffic {
        IdleTraffic {
            bytes_per_sec_per_connection: Some(rate),
            ..IdleTraffic::default()
        }
    }

    #[test]
    fn budgets_are_met_up_to_their_limits_and_exceeded_beyond() {
        let met = TrafficBudgets::judge(Some(&publish(3.5)), Some(&idle(50.0)), true);
        assert!(met.failures.is_empty(), "{}", met.line());
        let over = TrafficBudgets::judge(Some(&publish(3.6)), Some(&idle(50.5)), true);
        assert_eq!(over.failures.len(), 2, "{}", over.line());
        // No idle window: only the publishing budget applies.
        let no_idle = TrafficBudgets::judge(Some(&publish(2.0)), None, false);
        assert!(no_idle.failures.is_empty() && no_idle.idle_bytes_per_sec_per_connection.is_none());
        assert_eq!(TrafficBudgets::judge(None, None, true).failures.len(), 1);
    }
}
