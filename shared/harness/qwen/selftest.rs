//! What `csd doctor` gives Qwen Code to prove it offline: the operator's
//! `~/.qwen/settings.json` choosing the `openai` auth (chat completions at
//! the mock, its URL and key in the environment), no retries, no background
//! memory pass, no update check or usage statistics.

use crate::harness::{MockApi, SelfTest};
use serde_json::{json, Value};

/// `~/.qwen/settings.json` for a Qwen Code 0.24.4 that talks to a mock
/// through `OPENAI_BASE_URL`: the e2e tests write the same.
pub fn operator_settings() -> Value {
    json!({
        "$version": 4,
        "security": {"auth": {"selectedType": "openai"}},
        "model": {"name": "mock-model", "generationConfig": {"maxRetries": 0}},
        "memory": {"enableManagedAutoMemory": false, "enableManagedAutoDream": false},
        "general": {"enableAutoUpdate": false},
        "privacy": {"usageStatisticsEnabled": false},
        "telemetry": {"enabled": false},
    })
}

pub fn self_test() -> SelfTest {
    SelfTest {
        proven: "0.24.x",
        mock: MockApi::OpenAiChat,
        seed: |_, _| vec![(".qwen/settings.json", operator_settings().to_string())],
        env: |url, key| {
            vec![
                ("OPENAI_BASE_URL", url.to_string()),
                ("OPENAI_API_KEY", key.to_string()),
                ("OPENAI_MODEL", "mock-model".into()),
            ]
        },
        csd_env: &[],
        operator_vars: &[
            "QWEN_HOME",
            "QWEN_RUNTIME_DIR",
            "QWEN_CODE_SYSTEM_SETTINGS_PATH",
            "QWEN_CODE_SYSTEM_DEFAULTS_PATH",
            "CSD_QWEN_MODEL",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "OPENAI_MODEL",
            "DASHSCOPE_API_KEY",
        ],
        // The chat completions mock takes its script from the prompt's lines.
        prompt: |command, marker| format!("csd doctor check.\nRUN: {command}\nSAY: {marker}"),
    }
}
