//! The harnesses this csd knows, in the order help and `csd doctor` list
//! them; the first is the default. Adding a harness is one folder beside
//! this file and one line here (docs/adding-a-harness.md).

use super::Harness;

pub static HARNESSES: &[&dyn Harness] = &[
    &super::claude::Claude,
    &super::codex::Codex,
    &super::pi::Pi,
    &super::qwen::Qwen,
    &super::gemini::Gemini,
    &super::copilot::Copilot,
];
