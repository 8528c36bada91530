//! What `csd doctor` gives GitHub Copilot CLI to prove it offline: offline
//! mode and a BYOK provider of type `openai` (chat completions) at the mock,
//! set in the wrapper that runs it; csd's consent in the self-test HOME.
//! Its first start there unpacks its package (~235 MB, about a second) into
//! that HOME's `~/.cache/copilot/pkg`, which goes with the self-test's world.

use crate::harness::{MockApi, SelfTest};

/// The environment that points Copilot CLI 1.0.102 at a chat completions
/// mock at `url` (`http://127.0.0.1:N/v1`) with `key`, offline: the e2e
/// tests set the same.
pub fn provider_env(url: &str, key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("COPILOT_OFFLINE", "true".into()),
        ("COPILOT_PROVIDER_BASE_URL", url.to_string()),
        ("COPILOT_PROVIDER_TYPE", "openai".into()),
        ("COPILOT_PROVIDER_API_KEY", key.to_string()),
        ("COPILOT_MODEL", "mock-model".into()),
    ]
}

pub fn self_test() -> SelfTest {
    SelfTest {
        proven: "1.0.x",
        mock: MockApi::OpenAiChat,
        // The doctor grants csd's consent in its world only through a
        // harness's seed: `--harness copilot` alone needs it too.
        seed: |_, _| {
            vec![(".claude/.claude-session-driver-consent", "granted by csd doctor for its own workers\n".into())]
        },
        env: |url, key| provider_env(url, key),
        csd_env: &[],
        operator_vars: &[
            "COPILOT_HOME",
            "CSD_COPILOT_MODEL",
            "COPILOT_MODEL",
            "COPILOT_OFFLINE",
            "COPILOT_PROVIDER_BASE_URL",
            "COPILOT_PROVIDER_TYPE",
            "COPILOT_PROVIDER_API_KEY",
            "COPILOT_PROVIDER_BEARER_TOKEN",
            "COPILOT_PROVIDER_WIRE_API",
            "COPILOT_PROVIDER_MODEL_ID",
            "COPILOT_PROVIDER_WIRE_MODEL",
            "COPILOT_PROVIDER_HEADERS",
            "COPILOT_GITHUB_TOKEN",
            "GH_TOKEN",
        ],
        // The chat completions mock takes its script from the prompt's lines.
        prompt: |command, marker| format!("csd doctor check.\nRUN: {command}\nSAY: {marker}"),
    }
}
