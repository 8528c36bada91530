//! Mock model servers on 127.0.0.1: the Anthropic Messages API (Claude
//! Code, and Pi's `anthropic-messages` provider) and the OpenAI Responses API
//! (Codex). Scripted by directives in the prompt; the end-to-end tests and
//! `csd doctor` drive the real harness CLIs against them, offline.

pub mod anthropic;
pub mod http;
pub mod openai;
