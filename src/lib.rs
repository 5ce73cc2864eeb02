//! llmload: a load generator and benchmark for OpenAI-compatible LLM endpoints.
pub mod dist;
pub mod scenario;
pub mod units;
