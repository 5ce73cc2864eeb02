//! `[workload.images]` (synthetic images in every request) and images named by a prompt
//! file's lines: chat only, sizes within bounds.

use std::sync::Arc;

use super::Problems;
use crate::config::images::{synthetic, Image, MAX_SIDE};
use crate::config::scenario::{EndpointKind, ScenarioFile};
use crate::config::workload::{Class, PromptSource};

/// Most images per request.
const MAX_COUNT: u32 = 64;

/// Most pixels over one request's synthetic images (3 bytes each, held in memory once).
const MAX_PIXELS: u64 = 64 << 20;

/// The synthetic images every request carries (empty without `[workload.images]`), and a
/// problem for images on an endpoint that has no messages to carry them.
pub(super) fn build(f: &ScenarioFile, classes: &[Class], p: &mut Problems) -> Vec<Arc<Image>> {
    let w = &f.workload;
    let chat = w.endpoint == EndpointKind::Chat;
    if !chat {
        let in_prompts = classes.iter().any(|c| match &c.source {
            PromptSource::List(ps) => ps.iter().any(|p| !p.images.is_empty()),
            PromptSource::Synthetic(_) => false,
        });
        if in_prompts {
            let field = if w.classes.is_empty() {
                "workload.prompts"
            } else {
                "workload.classes"
            };
            p.push(
                field,
                "prompts with images apply to endpoint = \"chat\" only",
            );
        }
    }
    let Some(spec) = &w.images else {
        return Vec::new();
    };
    if !chat {
        p.push(
            "workload.images",
            "images apply to endpoint = \"chat\" only",
        );
        return Vec::new();
    }
    let count = spec.count.unwrap_or(1);
    let mut ok = true;
    if count == 0 || count > MAX_COUNT {
        p.push(
            "workload.images.count",
            format!("must be between 1 and {MAX_COUNT}"),
        );
        ok = false;
    }
    for (field, v) in [
        ("workload.images.width", spec.width),
        ("workload.images.height", spec.height),
    ] {
        if v == 0 || v > MAX_SIDE {
            p.push(field, format!("must be between 1 and {MAX_SIDE} pixels"));
            ok = false;
        }
    }
    let pixels = u64::from(count) * u64::from(spec.width) * u64::from(spec.height);
    if ok && pixels > MAX_PIXELS {
        p.push(
            "workload.images",
            format!(
                "{count} images of {}x{} are {pixels} pixels; at most {MAX_PIXELS} per request",
                spec.width, spec.height
            ),
        );
        ok = false;
    }
    if !ok {
        return Vec::new();
    }
    match synthetic(count, spec.width, spec.height, f.seed) {
        Ok(v) => v,
        Err(e) => {
            p.push("workload.images", e);
            Vec::new()
        }
    }
}
