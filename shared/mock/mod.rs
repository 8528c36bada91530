//! Mock model servers on 127.0.0.1: the Anthropic Messages API (Claude
//! Code, and Pi's `anthropic-messages` provider), the OpenAI Responses API
//! (Codex) and OpenAI chat completions (Qwen Code). Scripted by directives in the prompt; the end-to-end tests and
//! `csd doctor` drive the real harness CLIs against them, offline.

pub mod anthropic;
pub mod chat;
pub mod gemini;
pub mod http;
pub mod openai;

use crate::harness::MockApi;

/// A running mock server, whatever protocol it speaks: what `csd doctor`
/// points a harness at.
pub trait Mock: Send + Sync {
    fn base_url(&self) -> String;
    /// The API key the harness is given (the mock accepts any).
    fn key(&self) -> &'static str;
}

impl Mock for anthropic::MockAnthropic {
    fn base_url(&self) -> String {
        anthropic::MockAnthropic::base_url(self)
    }
    fn key(&self) -> &'static str {
        anthropic::API_KEY
    }
}

impl Mock for openai::MockOpenAi {
    fn base_url(&self) -> String {
        openai::MockOpenAi::base_url(self)
    }
    fn key(&self) -> &'static str {
        "mock-key"
    }
}

impl Mock for chat::MockChat {
    fn base_url(&self) -> String {
        chat::MockChat::base_url(self)
    }
    fn key(&self) -> &'static str {
        chat::API_KEY
    }
}

impl Mock for gemini::MockGemini {
    fn base_url(&self) -> String {
        gemini::MockGemini::base_url(self)
    }
    fn key(&self) -> &'static str {
        gemini::API_KEY
    }
}

/// Start a mock speaking `api`, on a free port of 127.0.0.1, until dropped.
pub fn start(api: MockApi) -> Box<dyn Mock> {
    match api {
        // Claude Code's Bash tool takes a description beside the command.
        MockApi::AnthropicMessages { tool: "Bash" } => {
            Box::new(anthropic::MockAnthropic::start(anthropic::Config::claude()))
        }
        MockApi::AnthropicMessages { tool } => {
            Box::new(anthropic::MockAnthropic::start(anthropic::Config::with_tool(tool)))
        }
        MockApi::OpenAiResponses => Box::new(openai::MockOpenAi::start()),
        MockApi::OpenAiChat => Box::new(chat::MockChat::start()),
        MockApi::GeminiGenerateContent => Box::new(gemini::MockGemini::start()),
    }
}
