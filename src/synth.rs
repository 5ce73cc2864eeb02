//! TEMP STUB
use crate::tokens::Encoding;
/// Synth.
#[derive(Debug, Clone)]
pub struct Synth;
impl Synth {
    /// New.
    pub fn new(_enc: Encoding) -> Synth {
        Synth
    }
    /// Text.
    pub fn text(&self, tokens: u32, prefix_tokens: u32, prefix_seed: u64, seed: u64) -> String {
        let p = prefix_tokens.min(tokens);
        let mut s = String::from("the");
        for i in 1..tokens {
            s.push_str(if i < p {
                if prefix_seed % 2 == 0 {
                    " of"
                } else {
                    " and"
                }
            } else if seed % 2 == 0 {
                " to"
            } else {
                " in"
            });
        }
        s
    }
}
