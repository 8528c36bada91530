//! What `csd doctor` gives Claude Code to prove it offline: a HOME past
//! onboarding with the mock's key approved, the mock's URL, and every
//! switch that keeps it from calling home (the same the e2e tests use).

use crate::harness::{MockApi, SelfTest};
use serde_json::{json, Value};

/// Telemetry, update checks, feature-flag fetches: off.
pub const SWITCHES: [&str; 12] = [
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL",
    "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE",
    "DISABLE_AUTOUPDATER",
    "DISABLE_UPDATES",
    "DISABLE_TELEMETRY",
    "DISABLE_ERROR_REPORTING",
    "DISABLE_GROWTHBOOK",
    "DISABLE_INSTALLATION_CHECKS",
    "DISABLE_BUG_COMMAND",
    "IS_SANDBOX",
];

/// `~/.claude.json` for a Claude Code 2.1.197 that talks to a mock with
/// API key `key`: onboarding done, the key approved, bypass mode accepted,
/// no auto-update. No project is trusted (the trust dialog stays csd's to
/// answer).
pub fn home_config(key: &str) -> Value {
    let key_tail = &key[key.len().saturating_sub(20)..];
    json!({
        "hasCompletedOnboarding": true,
        "lastOnboardingVersion": "2.1.197",
        "customApiKeyResponses": {"approved": [key_tail], "rejected": []},
        "bypassPermissionsModeAccepted": true,
        "autoUpdates": false,
    })
}

pub fn self_test() -> SelfTest {
    SelfTest {
        proven: "2.1.197",
        mock: MockApi::AnthropicMessages { tool: "Bash" },
        seed: |_, key| {
            vec![
                (".claude/.claude-session-driver-consent", "granted by csd doctor for its own workers\n".into()),
                (".claude.json", home_config(key).to_string()),
            ]
        },
        env: |url, key| {
            let mut env = vec![("ANTHROPIC_BASE_URL", url.to_string()), ("ANTHROPIC_API_KEY", key.to_string())];
            env.extend(SWITCHES.iter().map(|s| (*s, "1".to_string())));
            env
        },
        csd_env: &[],
        operator_vars: &[
            "CLAUDE_CONFIG_DIR",
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_AUTH_TOKEN",
            "ANTHROPIC_BASE_URL",
            "ANTHROPIC_MODEL",
            "CLAUDE_CODE_USE_BEDROCK",
            "CLAUDE_CODE_USE_VERTEX",
        ],
        prompt: |command, _| format!("csd doctor check.\nrun: {command}"),
    }
}
