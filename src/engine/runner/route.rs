//! What an arrival resolves to before it is sent: its draw (class, prompt, `max_tokens`,
//! repeat), its prompt text, and its model — the trace's, the class's, the first matching
//! routing rule's, or the weighted draw — plus the record skeleton tagged with its groups.
//!
//! A golden arrival (`[quality] mix`, see `golden`) resolves to its golden line's prompt instead.
//!
//! Everything here is a pure function of the plan, the seed and the arrival index, so a run
//! and its shards resolve an arrival the same way. Nothing here waits or sends.

use crate::config::plan::{Shape, TraceItem, Workload, UNMATCHED_ROUTE};
use crate::config::workload::{Draw, Item, Prompt, PromptSource};
use crate::core::record::{Outcome, RequestRecord, Tags};

use super::Shared;

/// A prompt ready to send: borrowed from the plan's lists or generated for this request.
pub(super) enum PromptRef<'a> {
    Listed(&'a Prompt),
    Owned(Prompt),
}

impl PromptRef<'_> {
    #[inline]
    pub(super) fn get(&self) -> &Prompt {
        match self {
            PromptRef::Listed(p) => p,
            PromptRef::Owned(p) => p,
        }
    }
}

/// What an arrival resolves to before sending: its draw, prompt, model and route.
pub(super) struct Resolved<'a> {
    pub(super) draw: Draw,
    pub(super) prompt: PromptRef<'a>,
    /// Exact prompt tokens, when known without tokenizing (synthetic prompts).
    pub(super) exact_tokens: Option<u64>,
    pub(super) model: usize,
    pub(super) route: Option<u32>,
    /// The golden line this arrival asks (`[quality] mix`); None for an ordinary arrival.
    pub(super) golden: Option<usize>,
}

impl Shared {
    #[inline]
    fn trace_item(&self, index: u64) -> Option<&TraceItem> {
        match &self.plan.load.shape {
            Shape::Trace(t) => t.entries.get(index as usize),
            _ => None,
        }
    }

    /// The draw of arrival `index`, with a trace's lengths and model applied.
    #[inline]
    fn draw(&self, index: u64) -> Draw {
        let mut d = self.sampler.draw(index, &self.plan.workload.classes);
        if let Some(e) = self.trace_item(index) {
            d.item = Item::Synthetic {
                tokens: e.input_tokens,
                seed: index,
            };
            d.max_tokens = e.output_tokens;
            d.class = 0;
        }
        d
    }

    /// The prompt of `item` in `class`, and its exact tokens when generated; a generated one
    /// is sized for model `model`'s server-fitted sizing when it has one.
    #[inline]
    pub(super) fn materialize(
        &self,
        class: usize,
        item: Item,
        model: Option<usize>,
    ) -> (PromptRef<'_>, Option<u64>) {
        let c = &self.plan.workload.classes[class];
        match (item, &c.source) {
            (Item::Listed(i), PromptSource::List(ps)) => (PromptRef::Listed(&ps[i]), None),
            (Item::Synthetic { tokens, seed }, src) => {
                let synth = match (&self.plan.load.shape, src) {
                    (Shape::Trace(t), _) => &t.synth,
                    (_, PromptSource::Synthetic(s)) => s,
                    // A listed class never draws a synthetic item.
                    _ => return (PromptRef::Owned(Prompt::text("")), Some(0)),
                };
                let seed = mix_seed(self.plan.seed, class as u64, seed);
                let text = match model {
                    Some(m) => synth.text_for(m, tokens, seed),
                    None => synth.text(tokens, seed),
                };
                (PromptRef::Owned(Prompt::text(text)), Some(tokens as u64))
            }
            (Item::Listed(_), PromptSource::Synthetic(_)) => {
                (PromptRef::Owned(Prompt::text("")), Some(0))
            }
        }
    }

    /// The model for a request: the trace's, the class's, the first matching route's, or the
    /// weighted draw.
    #[inline]
    pub(super) fn choose(
        &self,
        index: u64,
        class: usize,
        weighted: usize,
        chars: usize,
    ) -> (usize, Option<u32>) {
        if let Some(m) = self.trace_item(index).and_then(|e| e.model) {
            return (m, None);
        }
        pick_model(&self.plan.workload, class, weighted, chars)
    }

    /// Arrival `index`'s draw, prompt, model and route. When the model does not depend on
    /// the prompt's size (no routing rules, or a class or trace that names its model) it is
    /// chosen first, so a generated prompt is made once, sized for that model.
    #[inline]
    pub(super) fn resolve(&self, index: u64) -> Resolved<'_> {
        let draw = self.draw(index);
        if let Some(line) = self.golden_line(index) {
            return self.resolve_golden(index, draw, line);
        }
        let w = &self.plan.workload;
        let fixed = w.routes.is_empty()
            || w.classes[draw.class].model.is_some()
            || self.trace_item(index).is_some_and(|e| e.model.is_some());
        let (prompt, exact_tokens, model, route) = if fixed {
            let (model, route) = self.choose(index, draw.class, draw.weighted_model, 0);
            let (prompt, exact) = self.materialize(draw.class, draw.item, Some(model));
            (prompt, exact, model, route)
        } else {
            let (prompt, exact) = self.materialize(draw.class, draw.item, None);
            let (model, route) =
                self.choose(index, draw.class, draw.weighted_model, prompt.get().chars);
            // A routed model with a server-fitted sizing gets its prompt made anew for it.
            if self.sized(draw.class, model) {
                let (prompt, exact) = self.materialize(draw.class, draw.item, Some(model));
                (prompt, exact, model, route)
            } else {
                (prompt, exact, model, route)
            }
        };
        Resolved {
            draw,
            prompt,
            exact_tokens,
            model,
            route,
            golden: None,
        }
    }

    /// Whether `class`'s generated prompts have a server-fitted sizing for `model`.
    #[inline]
    fn sized(&self, class: usize, model: usize) -> bool {
        match &self.plan.workload.classes[class].source {
            PromptSource::Synthetic(s) => s.sizing_for(model).is_some(),
            PromptSource::List(_) => false,
        }
    }

    /// A fresh record for one attempt, tagged with its groups.
    #[inline]
    pub(super) fn record(
        &self,
        index: u64,
        model: usize,
        class: usize,
        route: Option<u32>,
        t_sched_us: u64,
        t_dispatch_us: u64,
    ) -> RequestRecord {
        let mut rec = RequestRecord::unsent(
            index,
            self.plan.models[model].id.clone(),
            self.phase(t_sched_us),
            Outcome::Cancelled,
            t_sched_us,
            t_dispatch_us,
        );
        let w = &self.plan.workload;
        if w.named_classes {
            rec.class = Some(w.classes[class].name.clone());
        }
        rec.route = route.map(|r| route_name(w, r));
        rec.tags = Tags {
            class: class as u32,
            route,
        };
        rec
    }
}

/// The model for a request of `class` with a `chars`-character prompt, outside a trace: the
/// class's own model, else the first matching route's (with its index), else the weighted
/// draw (with `u32::MAX` when routes exist but none matched).
#[inline]
fn pick_model(w: &Workload, class: usize, weighted: usize, chars: usize) -> (usize, Option<u32>) {
    if let Some(m) = w.classes[class].model {
        return (m, None);
    }
    if w.routes.is_empty() {
        return (weighted, None);
    }
    match w.routes.iter().position(|r| r.matches(class, chars)) {
        Some(i) => (w.routes[i].model, Some(i as u32)),
        None => (weighted, Some(u32::MAX)),
    }
}

/// The name a record carries for route `r` (`u32::MAX` or unknown: the unmatched name).
#[inline]
fn route_name(w: &Workload, r: u32) -> String {
    w.routes
        .get(r as usize)
        .map_or_else(|| UNMATCHED_ROUTE.to_string(), |x| x.name.clone())
}

/// The seed of a generated prompt: distinct per class and item, fixed by the plan's seed.
fn mix_seed(seed: u64, class: u64, item: u64) -> u64 {
    seed.rotate_left(17)
        ^ class.wrapping_mul(0xA24B_AED4_963E_E407)
        ^ item.wrapping_mul(0x9FB2_1C65_1E98_DF25)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{plan, shared};
    use super::*;

    const ROUTED: &str = r#"
[[targets]]
name = "sim"
base_url = "mock"

[[models]]
id = "small"
target = "sim"

[[models]]
id = "large"
target = "sim"

[[models]]
id = "pinned"
target = "sim"

[workload]
max_tokens = 8

[[workload.classes]]
name = "chat"
prompts = ["hi", "a much longer prompt than the short rule allows"]

[[workload.classes]]
name = "batch"
prompts = ["x"]
model = "pinned"

[[routes]]
name = "short"
chars_below = 10
model = "small"

[[routes]]
name = "long"
chars_above = 20
class = "chat"
model = "large"

[load]
rate = "5/s"
duration = "2s"
"#;

    #[test]
    fn the_first_matching_route_names_the_model() {
        let p = plan(ROUTED);
        let w = &p.workload;
        let (small, large) = (0, 1);
        // "hi": the short rule.
        assert_eq!(pick_model(w, 0, large, 2), (small, Some(0)));
        // Long chat prompt: the second rule, whatever the weighted draw said.
        assert_eq!(pick_model(w, 0, small, 47), (large, Some(1)));
        // 10..=20 characters: no rule matches; the weighted draw stands, marked unmatched.
        assert_eq!(pick_model(w, 0, large, 15), (large, Some(u32::MAX)));
        // A class with its own model ignores the routes.
        assert_eq!(pick_model(w, 1, small, 1), (2, None));
    }

    #[test]
    fn a_record_carries_its_class_and_route_names() {
        let sh = shared(plan(ROUTED));
        let r = sh.record(7, 1, 0, Some(1), 5, 6);
        assert_eq!(r.model, "large");
        assert_eq!(r.class.as_deref(), Some("chat"));
        assert_eq!(r.route.as_deref(), Some("long"));
        assert_eq!(
            r.tags,
            Tags {
                class: 0,
                route: Some(1)
            }
        );
        assert_eq!((r.index, r.t_sched_us, r.t_dispatch_us), (7, 5, 6));
        assert_eq!(r.outcome, Outcome::Cancelled);
        let u = sh.record(8, 0, 0, Some(u32::MAX), 5, 6);
        assert_eq!(u.route.as_deref(), Some(UNMATCHED_ROUTE));
        let none = sh.record(9, 2, 1, None, 5, 6);
        assert_eq!(none.route, None);
        assert_eq!(none.class.as_deref(), Some("batch"));
    }

    #[test]
    fn resolving_an_arrival_is_deterministic_and_follows_the_routes() {
        let a = shared(plan(ROUTED));
        let b = shared(plan(ROUTED));
        for i in 0..200 {
            let (ra, rb) = (a.resolve(i), b.resolve(i));
            assert_eq!(
                (ra.model, ra.route, ra.draw.class),
                (rb.model, rb.route, rb.draw.class)
            );
            let chars = ra.prompt.get().chars;
            match ra.draw.class {
                1 => assert_eq!((ra.model, ra.route), (2, None)),
                _ if chars < 10 => assert_eq!((ra.model, ra.route), (0, Some(0))),
                _ => assert_eq!((ra.model, ra.route), (1, Some(1))),
            }
        }
    }

    #[test]
    fn generated_prompts_differ_by_class_and_item_and_repeat_by_seed() {
        assert_eq!(mix_seed(1, 2, 3), mix_seed(1, 2, 3));
        assert_ne!(mix_seed(1, 2, 3), mix_seed(1, 3, 3));
        assert_ne!(mix_seed(1, 2, 3), mix_seed(1, 2, 4));
        assert_ne!(mix_seed(1, 2, 3), mix_seed(2, 2, 3));
    }
}
