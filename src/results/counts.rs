//! Request counts and failures: measured arrivals by fate, failures by class with their
//! most common message, and the one-line account of a run that measured nothing.

use std::collections::BTreeMap;

use crate::core::record::Outcome;
use crate::metrics::Stats;
use crate::results::{Counts, TopError};

/// A group's measured arrivals by fate: sent (ok or failed, failures by class with each
/// class's most common message), dropped, cancelled, skipped; and its re-sends.
pub(super) fn counts(s: &Stats) -> Counts {
    let mut errors = BTreeMap::new();
    for o in Outcome::ALL {
        if o.was_sent() && o != Outcome::Ok && s.count(o) > 0 {
            errors.insert(o.name().to_string(), s.count(o));
        }
    }
    let dropped = s.count(Outcome::Dropped);
    let cancelled = s.count(Outcome::Cancelled);
    let issued = s.issued();
    let skipped = s.count(Outcome::Skipped);
    Counts {
        issued,
        sent: issued - dropped - cancelled - skipped,
        ok: s.count(Outcome::Ok),
        failed: s.failed(),
        dropped,
        cancelled,
        skipped,
        over_context: s.over_context,
        reconnects: s.reconnects,
        retries_429: s.retries_429,
        backoff_s: s.backoff_us as f64 / 1e6,
        error_messages: top_messages(s, &errors),
        errors,
    }
}

/// Per failure class in `errors`: its most common message and how many failures carried it.
fn top_messages(s: &Stats, errors: &BTreeMap<String, u64>) -> BTreeMap<String, TopError> {
    s.error_messages
        .iter()
        .filter(|(k, _)| errors.contains_key(*k))
        .filter_map(|(k, t)| {
            t.top().map(|(m, n)| {
                (
                    k.clone(),
                    TopError {
                        message: m.to_string(),
                        count: n,
                    },
                )
            })
        })
        .collect()
}

/// Why nothing was measured, in one line: how many measured requests were sent and how they
/// failed, each failure class with its count and most common message.
pub fn nothing_measured_line(o: &Counts) -> String {
    if o.issued == 0 {
        return "nothing measured: no request was scheduled inside the measurement window".into();
    }
    if o.sent == 0 {
        return format!(
            "nothing measured: none of the {} measured arrivals was sent ({} dropped, {} cancelled, {} skipped)",
            o.issued, o.dropped, o.cancelled, o.skipped
        );
    }
    let mut classes: Vec<(&String, &u64)> = o.errors.iter().collect();
    classes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let why: Vec<String> = classes
        .iter()
        .map(|(k, n)| match o.error_messages.get(*k) {
            Some(t) => format!("{k} ×{n}: {}", t.message),
            None => format!("{k} ×{n}"),
        })
        .collect();
    format!(
        "nothing measured: all {} measured requests failed ({})",
        o.sent,
        why.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(outcomes: &[(Outcome, u64)]) -> Stats {
        let mut s = Stats::default();
        for &(o, n) in outcomes {
            s.outcomes[o.index()] = n;
        }
        s
    }

    #[test]
    fn arrivals_are_counted_by_fate_and_failures_by_class() {
        let mut s = stats(&[
            (Outcome::Ok, 7),
            (Outcome::Http5xx, 2),
            (Outcome::RateLimited, 1),
            (Outcome::Dropped, 3),
            (Outcome::Cancelled, 1),
            (Outcome::Skipped, 4),
        ]);
        crate::metrics::errors::record(&mut s.error_messages, "http_5xx", Some("bad gateway"));
        crate::metrics::errors::record(&mut s.error_messages, "http_5xx", Some("bad gateway"));
        s.backoff_us = 2_500_000;
        let c = counts(&s);
        assert_eq!((c.issued, c.sent, c.ok, c.failed), (18, 10, 7, 3));
        assert_eq!((c.dropped, c.cancelled, c.skipped), (3, 1, 4));
        assert_eq!(c.backoff_s, 2.5);
        assert_eq!(
            c.errors
                .iter()
                .map(|(k, v)| (k.as_str(), *v))
                .collect::<Vec<_>>(),
            [
                (Outcome::Http5xx.name(), 2),
                (Outcome::RateLimited.name(), 1)
            ]
        );
        assert_eq!(
            c.error_messages[Outcome::Http5xx.name()],
            TopError {
                message: "bad gateway".into(),
                count: 2
            }
        );
    }

    #[test]
    fn nothing_measured_says_why() {
        assert_eq!(
            nothing_measured_line(&counts(&Stats::default())),
            "nothing measured: no request was scheduled inside the measurement window"
        );
        let unsent = counts(&stats(&[(Outcome::Dropped, 2), (Outcome::Skipped, 1)]));
        assert_eq!(
            nothing_measured_line(&unsent),
            "nothing measured: none of the 3 measured arrivals was sent (2 dropped, 0 cancelled, 1 skipped)"
        );
        let mut s = stats(&[(Outcome::Http4xx, 1), (Outcome::Http5xx, 4)]);
        crate::metrics::errors::record(
            &mut s.error_messages,
            Outcome::Http4xx.name(),
            Some("no key"),
        );
        let line = nothing_measured_line(&counts(&s));
        // The most frequent class first, with its most common message when it had one.
        assert_eq!(
            line,
            format!(
                "nothing measured: all 5 measured requests failed ({} ×4; {} ×1: no key)",
                Outcome::Http5xx.name(),
                Outcome::Http4xx.name()
            )
        );
    }
}
