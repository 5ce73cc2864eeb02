//! `[quality]`: the golden set loaded and compiled, how its requests run, the baseline model
//! and the judge, each checked against the scenario's models and targets.

use std::path::Path;
use std::sync::Arc;

use super::models::by_name;
use super::{Model, Problems, Target};
use crate::config::golden::spec::{QualityMode, QualitySpec};
use crate::config::golden::{self, GoldenError, GoldenSet};
use crate::config::prices::{Catalog, Price};
use crate::config::scenario::EndpointKind;

/// Largest golden answer kept in the records unless the scenario says otherwise, in bytes.
pub const DEFAULT_ANSWER_CAP_BYTES: usize = 16 * 1024;

/// How golden requests are sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QualityRun {
    /// Each golden line once per model, in a pass of its own before the load.
    Pass,
    /// This share of the load's requests are golden requests.
    Mix(f64),
}

/// A judge model: where it is called and the rubric it scores by.
#[derive(Debug, Clone, PartialEq)]
pub struct Judge {
    /// The model id sent to the judge's target.
    pub model: String,
    /// Index into the plan's targets.
    pub target: usize,
    /// What the judge scores each answer against.
    pub rubric: String,
    /// The judge model's price: the scenario model's of that id on that target, else the
    /// price catalog's; None when neither knows it.
    pub price: Option<Price>,
}

/// The validated `[quality]` section.
#[derive(Debug, Clone)]
pub struct Quality {
    /// The golden set, loaded and compiled.
    pub golden: Arc<GoldenSet>,
    /// How its requests run.
    pub run: QualityRun,
    /// Index into the plan's models of the baseline.
    pub baseline: Option<usize>,
    /// The judge, when asked for.
    pub judge: Option<Judge>,
    /// Keep golden answers in the records.
    pub keep_answers: bool,
    /// Largest golden answer kept, in bytes.
    pub answer_cap_bytes: usize,
    /// A baseline read from an earlier result (`llmload run --baseline`); when set, it is the
    /// baseline instead of `baseline`.
    pub baseline_file: Option<Arc<BaselineFile>>,
}

/// A model's golden answers read from an earlier result file, matched to this golden set.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineFile {
    /// The result file as given.
    pub path: String,
    /// The model's label in that file.
    pub model: String,
    /// Each answer's score: (line index into this golden set, score).
    pub scores: Vec<(usize, crate::config::golden::LineScore)>,
    /// Per line of this golden set: the baseline's answer, when the file kept it and it
    /// arrived whole (outcome ok, not cut).
    pub answers: Vec<Option<String>>,
    /// The model's cost per 1,000 measured requests in that result, when its price was known.
    pub per_1k_requests_usd: Option<f64>,
}

impl Quality {
    /// Sets the judge's price: the price of the scenario model with the judge's id on the
    /// judge's target, else the catalog's entry for the id.
    pub(super) fn with_judge_price(mut self, models: &[Model], catalog: &Catalog) -> Quality {
        if let Some(j) = self.judge.as_mut() {
            j.price = models
                .iter()
                .find(|m| m.id == j.model && m.target == j.target)
                .and_then(|m| m.price)
                .or_else(|| catalog.lookup(&j.model).map(|e| e.price));
        }
        self
    }

    /// Lines for `validate`: the golden set, how it runs, the baseline and the judge.
    pub fn describe(&self, models: &[Model], targets: &[Target]) -> Vec<String> {
        let g = &self.golden;
        let classes = g.classes();
        let classes = if classes.is_empty() {
            String::new()
        } else {
            let n = classes.len();
            format!(
                " in {n} class{} ({})",
                if n == 1 { "" } else { "es" },
                classes.join(", ")
            )
        };
        let checks: usize = g.lines.iter().map(|l| l.checks.len()).sum();
        let references = g.lines.iter().filter(|l| l.reference.is_some()).count();
        let run = match self.run {
            QualityRun::Pass => "sent once to every model before the load".to_string(),
            QualityRun::Mix(x) => format!(
                "mixed into the load: {:.1} % of its arrivals ask a golden line",
                x * 100.0
            ),
        };
        let count = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
        let mut out = vec![
            format!(
                "quality: {}{classes}, {}, {}, from {}",
                count(g.lines.len(), "golden line"),
                count(checks, "check"),
                count(references, "reference"),
                g.path.display()
            ),
            format!("  {run}"),
        ];
        if let Some(b) = self.baseline {
            out.push(format!("  baseline: {}", models[b].label));
        }
        if let Some(j) = &self.judge {
            out.push(format!(
                "  judge: {} on {}",
                j.model, targets[j.target].name
            ));
        }
        out.push(if self.keep_answers {
            format!("  answers kept, up to {} bytes each", self.answer_cap_bytes)
        } else {
            "  answers not kept".to_string()
        });
        out
    }
}

/// Validates `[quality]`, loading the golden file from `dir`; None when the section is absent
/// or wrong (every problem reported).
pub(super) fn build(
    spec: Option<&QualitySpec>,
    endpoint: EndpointKind,
    dir: &Path,
    (models, targets): (&[Model], &[Target]),
    p: &mut Problems,
) -> Option<Quality> {
    let s = spec?;
    let mut ok = true;
    let mut bad = |p: &mut Problems, field: &str, message: String| {
        p.push(field, message);
        ok = false;
    };
    if endpoint == EndpointKind::Embeddings {
        bad(
            p,
            "quality",
            "golden prompts need answers to score: `workload.endpoint = \"embeddings\"` gives none"
                .into(),
        );
    }
    let golden = load_golden(&s.golden, dir, p);
    let run = match (s.mode, s.mix) {
        (None | Some(QualityMode::Pass), None) => QualityRun::Pass,
        (Some(QualityMode::Pass), Some(_)) => {
            bad(
                p,
                "quality.mix",
                "a share of the load is `mode = \"mix\"`; remove `mode = \"pass\"` or `mix`".into(),
            );
            QualityRun::Pass
        }
        (Some(QualityMode::Mix), None) => {
            bad(p, "quality.mode", "`mode = \"mix\"` needs `mix`, the share of load requests that are golden (e.g. 0.05)".into());
            QualityRun::Pass
        }
        (_, Some(x)) => {
            if !(x > 0.0 && x <= 1.0) {
                bad(
                    p,
                    "quality.mix",
                    "is a share of the load's requests: greater than 0, at most 1".into(),
                );
            }
            QualityRun::Mix(x)
        }
    };
    let baseline = s.baseline.as_ref().and_then(|b| match by_name(models, b) {
        Ok(m) => Some(m),
        Err(e) => {
            bad(p, "quality.baseline", e);
            None
        }
    });
    let judge = s.judge.as_ref().and_then(|j| {
        let target = match &j.target {
            Some(t) => targets.iter().position(|x| &x.name == t).or_else(|| {
                let names: Vec<&str> = targets.iter().map(|x| x.name.as_str()).collect();
                bad(
                    p,
                    "quality.judge.target",
                    format!("no target named `{t}`; targets are: {}", names.join(", ")),
                );
                None
            }),
            None => match by_name(models, &j.model) {
                Ok(m) => Some(models[m].target),
                Err(e) => {
                    bad(
                        p,
                        "quality.judge.model",
                        format!("{e} (or give the judge a `target`)"),
                    );
                    None
                }
            },
        };
        if j.model.trim().is_empty() {
            bad(p, "quality.judge.model", "must not be empty".into());
        }
        if j.rubric.trim().is_empty() {
            bad(
                p,
                "quality.judge.rubric",
                "must not be empty: it says what a good answer is".into(),
            );
        }
        let model = match (&j.target, by_name(models, &j.model)) {
            (None, Ok(m)) => models[m].id.clone(),
            _ => j.model.clone(),
        };
        target.map(|target| Judge {
            model,
            target,
            rubric: j.rubric.clone(),
            price: None,
        })
    });
    let answer_cap_bytes = match s.answer_cap_bytes {
        None => DEFAULT_ANSWER_CAP_BYTES,
        Some(0) => {
            bad(
                p,
                "quality.answer_cap_bytes",
                "must be at least 1 (set `keep_answers = false` to keep none)".into(),
            );
            DEFAULT_ANSWER_CAP_BYTES
        }
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let golden = golden?;
    ok.then(|| Quality {
        golden: Arc::new(golden),
        run,
        baseline,
        judge,
        keep_answers: s.keep_answers.unwrap_or(true),
        answer_cap_bytes,
        baseline_file: None,
    })
}

/// The golden file `file` (relative to `dir`), its problems reported where they are: a file
/// that cannot be read at `quality.golden`, a wrong line in the golden file itself.
fn load_golden(file: &str, dir: &Path, p: &mut Problems) -> Option<GoldenSet> {
    let path = dir.join(file);
    match golden::load(&path, &path) {
        Ok(set) => Some(set),
        Err(GoldenError::Io(e)) => {
            p.push(
                "quality.golden",
                format!("cannot read golden file {}: {e}", path.display()),
            );
            None
        }
        Err(GoldenError::Lines(found)) => {
            for f in found {
                p.push_located(f);
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{fields, scenario};
    use super::super::Plan;
    use crate::config::scenario::ScenarioError;

    const BASE: &str = "name = \"q\"\n\
        [[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
        [[models]]\nid = \"a\"\ntarget = \"sim\"\n\
        [[models]]\nid = \"b\"\ntarget = \"sim\"\n\
        [workload]\nprompts = [\"hi\"]\n[load]\nconcurrency = 1\nrequests = 1\n";

    /// A scenario in a temporary folder holding `golden.jsonl` with `golden`.
    fn build(quality: &str, golden: &str) -> Result<Plan, ScenarioError> {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("golden.jsonl"), golden).expect("written");
        let (mut src, file) = scenario(&format!("{BASE}[quality]\n{quality}\n"));
        src.path = dir.path().join("scenario.toml");
        Plan::build(&src, file)
    }

    const GOLDEN: &str =
        "{\"prompt\": \"2+2?\", \"checks\": [{\"number\": 4}], \"class\": \"math\"}\n";

    #[test]
    fn a_quality_section_carries_the_compiled_golden_set() {
        let plan = build(
            "golden = \"golden.jsonl\"\nbaseline = \"b\"\njudge = { model = \"a\", rubric = \"correct and brief\" }",
            GOLDEN,
        )
        .expect("valid");
        let q = plan.quality.as_ref().expect("a quality section");
        assert_eq!(q.golden.lines.len(), 1);
        assert_eq!(q.run, super::QualityRun::Pass);
        assert_eq!(q.baseline, Some(1));
        let j = q.judge.clone().expect("a judge");
        assert_eq!((j.model.as_str(), j.target), ("a", 0));
        assert!(q.keep_answers);
        assert_eq!(q.answer_cap_bytes, super::DEFAULT_ANSWER_CAP_BYTES);
        let shown = q.describe(&plan.models, &plan.targets);
        assert_eq!(
            shown[0].split(", from").next(),
            Some("quality: 1 golden line in 1 class (math), 1 check, 0 references")
        );
        assert_eq!(
            &shown[2..],
            [
                "  baseline: b",
                "  judge: a on sim",
                "  answers kept, up to 16384 bytes each"
            ]
        );
        let plan = build(
            "golden = \"golden.jsonl\"\nmix = 0.05\nkeep_answers = false",
            GOLDEN,
        )
        .expect("valid");
        let q = plan.quality.as_ref().expect("a quality section");
        assert_eq!(q.run, super::QualityRun::Mix(0.05));
        assert_eq!(
            q.describe(&plan.models, &plan.targets)[1],
            "  mixed into the load: 5.0 % of its arrivals ask a golden line"
        );
        assert!(!q.keep_answers);
    }

    #[test]
    fn every_problem_names_its_field_or_its_golden_line() {
        let Err(ScenarioError::Invalid(found)) = build(
            "golden = \"golden.jsonl\"\nmode = \"mix\"\nbaseline = \"gpt-4o\"\n\
             answer_cap_bytes = 0\n\
             judge = { model = \"x\", target = \"nope\", rubric = \" \" }",
            "{\"prompt\": \"a\", \"checks\": [{\"regex\": \"(\"}]}\n",
        ) else {
            panic!("the section is wrong");
        };
        let got: Vec<(&str, usize)> = found.iter().map(|p| (p.field.as_str(), p.line)).collect();
        assert_eq!(
            got,
            [
                ("checks[0].regex", 1),
                ("quality.mode", 18),
                ("quality.baseline", 19),
                ("quality.judge.target", 21),
                ("quality.judge.rubric", 21),
                ("quality.answer_cap_bytes", 20),
            ]
        );
        assert!(found[0].file.ends_with("golden.jsonl"));
        assert!(found[0].message.starts_with("invalid regex"));
        assert_eq!(fields(&found)[2].1, "no model `gpt-4o`; models are: a, b");
    }

    #[test]
    fn a_missing_golden_file_and_a_bad_share_are_refused() {
        let Err(ScenarioError::Invalid(found)) =
            build("golden = \"missing.jsonl\"\nmix = 1.5", GOLDEN)
        else {
            panic!("the section is wrong");
        };
        let f = fields(&found);
        assert_eq!(f[0].0, "quality.golden");
        assert!(f[0].1.starts_with("cannot read golden file"), "{}", f[0].1);
        assert_eq!(f[1].0, "quality.mix");
    }
}
