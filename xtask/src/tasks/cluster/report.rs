//! The verdicts of the cluster test (each property checked, in words) and the table of
//! figures it prints.

use std::time::{Duration, Instant};

use crate::error::{bail, Result};
use crate::tasks::cluster::load::Tally;
use crate::ui;

/// How long after its window a proxy 503 may still be blamed on the instance that was
/// stopping (answers travel through the proxy after the instance is gone).
const SLACK: Duration = Duration::from_secs(1);

/// The properties checked so far; [`Verdicts::finish`] fails when any was violated.
#[derive(Debug, Default)]
pub struct Verdicts {
    violated: Vec<String>,
    held: usize,
}

impl Verdicts {
    /// Records one property: `holds`, described by `what`.
    pub fn expect(&mut self, holds: bool, what: String) {
        if holds {
            self.held += 1;
            ui::note(format!("ok   {what}"));
        } else {
            ui::note(format!("FAIL {what}"));
            self.violated.push(what);
        }
    }

    /// The properties of a phase under load: no error, every proxy 503 blamed on an
    /// instance that was stopping at the time (`windows`: port, from, to), each instance
    /// of `rejoined` (port, since) served again after it restarted, and the audit chain
    /// valid at every walk.
    pub fn load(
        &mut self,
        phase: &str,
        tally: &Tally,
        windows: &[(u16, Instant, Instant)],
        rejoined: &[(u16, Instant)],
    ) {
        let shown: Vec<&String> = tally.errors.iter().take(5).collect();
        self.expect(
            tally.errors.is_empty(),
            format!(
                "{phase}: {} requests, {} errors other than 503 + Retry-After {shown:?}",
                tally.requests,
                tally.errors.len()
            ),
        );
        let stray = stray_proxy_retries(tally, windows);
        self.expect(
            stray == 0,
            format!(
                "{phase}: the proxy's {} retry answers all name an instance that was stopping \
                 ({stray} do not)",
                tally.proxy_retries.len()
            ),
        );
        for (port, since) in rejoined {
            let after = tally
                .served
                .iter()
                .filter(|(at, p)| p == port && at > since)
                .count();
            self.expect(
                after > 0,
                format!("{phase}: :{port} served {after} requests after it restarted"),
            );
        }
        self.expect(
            tally.verifies > 0 && tally.invalid_verifies.is_empty(),
            format!(
                "{phase}: audit chain valid at all {} walks {:?}",
                tally.verifies, tally.invalid_verifies
            ),
        );
    }

    /// Ok when every property held; else an error listing the violated ones.
    pub fn finish(self) -> Result<()> {
        if self.violated.is_empty() {
            ui::step(format!("all {} properties held", self.held));
            return Ok(());
        }
        bail!(
            "{} of {} properties violated:\n  - {}",
            self.violated.len(),
            self.violated.len() + self.held,
            self.violated.join("\n  - ")
        )
    }
}

/// Proxy 503s naming an instance that was not stopping when the answer came.
fn stray_proxy_retries(tally: &Tally, windows: &[(u16, Instant, Instant)]) -> usize {
    tally
        .proxy_retries
        .iter()
        .filter(|retry| {
            retry.upstreams.is_empty()
                || !retry.upstreams.iter().all(|port| {
                    windows.iter().any(|(p, from, to)| {
                        p == port && retry.at >= *from && retry.at <= *to + SLACK
                    })
                })
        })
        .count()
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    phase: String,
    requests: u64,
    per_sec: u64,
    errors: usize,
    instance_retries: u64,
    proxy_retries: usize,
    failovers: u64,
    checked: u64,
}

impl Row {
    /// The figures of a phase.
    pub fn new(phase: &str, tally: &Tally, took: Duration, checked: u64) -> Self {
        let millis = u64::try_from(took.as_millis()).unwrap_or(u64::MAX).max(1);
        Self {
            phase: phase.to_owned(),
            requests: tally.requests,
            per_sec: tally.requests * 1000 / millis,
            errors: tally.errors.len(),
            instance_retries: tally.instance_retries,
            proxy_retries: tally.proxy_retries.len(),
            failovers: tally.failovers,
            checked,
        }
    }
}

/// The table, as Markdown on stdout.
pub fn print(rows: &[Row]) {
    ui::step("figures");
    println!(
        "| phase | requests | req/s | errors | retries told (instance / proxy) | failovers | acknowledged writes checked |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} / {} | {} | {} |",
            r.phase,
            r.requests,
            r.per_sec,
            r.errors,
            r.instance_retries,
            r.proxy_retries,
            r.failovers,
            r.checked
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::cluster::load::ProxyRetry;

    #[test]
    fn a_proxy_retry_is_excused_only_inside_a_window_of_its_instance() {
        let t0 = Instant::now();
        let windows = [(4001, t0, t0 + Duration::from_secs(2))];
        let at = |secs: u64, ports: Vec<u16>| ProxyRetry {
            at: t0 + Duration::from_secs(secs),
            upstreams: ports,
        };
        let tally = Tally {
            proxy_retries: vec![
                at(1, vec![4001]),
                at(3, vec![4001]),
                at(1, vec![4001, 4002]),
                at(9, vec![4001]),
                at(1, vec![]),
            ],
            ..Tally::default()
        };
        // In the window, within the slack; then another instance, too late, unnamed.
        assert_eq!(stray_proxy_retries(&tally, &windows), 3);
    }

    #[test]
    fn a_row_holds_the_rate_of_its_phase() {
        let tally = Tally {
            requests: 2000,
            failovers: 3,
            ..Tally::default()
        };
        let row = Row::new("p", &tally, Duration::from_secs(10), 7);
        assert_eq!((row.requests, row.per_sec, row.failovers), (2000, 200, 3));
        assert_eq!((row.errors, row.checked), (0, 7));
    }

    #[test]
    fn violated_properties_fail_the_run_and_are_named() {
        let mut v = Verdicts::default();
        v.expect(true, "fine".into());
        v.expect(false, "broken".into());
        let err = v.finish().unwrap_err().to_string();
        assert!(err.contains("1 of 2 properties violated"), "{err}");
        assert!(err.contains("broken") && !err.contains("fine"), "{err}");
        let mut ok = Verdicts::default();
        ok.expect(true, "fine".into());
        assert!(ok.finish().is_ok());
    }

    #[test]
    fn an_instance_that_served_nothing_after_its_restart_has_not_rejoined() {
        let t0 = Instant::now();
        let tally = Tally {
            served: vec![(t0, 4001), (t0 + Duration::from_secs(5), 4002)],
            verifies: 1,
            ..Tally::default()
        };
        let mut v = Verdicts::default();
        v.load("p", &tally, &[], &[(4001, t0 + Duration::from_secs(1))]);
        assert!(v.finish().is_err());
        let mut v = Verdicts::default();
        v.load("p", &tally, &[], &[(4002, t0 + Duration::from_secs(1))]);
        assert!(v.finish().is_ok());
    }
}
