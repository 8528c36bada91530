//! What `csd doctor` gives Gemini CLI to prove it offline: the mock's URL as
//! the Gemini API's base and its key as the API key, set in the wrapper
//! that runs it, and the API-key auth type selected in the self-test
//! HOME's settings (csd-launch, which does not see the key, selects none).

use crate::harness::{MockApi, SelfTest};
use serde_json::json;

pub fn self_test() -> SelfTest {
    SelfTest {
        proven: "0.61.x",
        mock: MockApi::GeminiGenerateContent,
        seed: |_, _| {
            let settings = json!({"general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
                "privacy": {"usageStatisticsEnabled": false}, "telemetry": {"enabled": false},
                "ui": {"hideTips": true}, "security": {"auth": {"selectedType": "gemini-api-key"}}});
            // The doctor grants csd's consent in its world only through a
            // harness's seed (Claude Code's): `--harness gemini` alone needs it too.
            vec![
                (".gemini/settings.json", settings.to_string()),
                (".claude/.claude-session-driver-consent", "granted by csd doctor for its own workers\n".into()),
            ]
        },
        env: |url, key| vec![("GEMINI_API_KEY", key.to_string()), ("GOOGLE_GEMINI_BASE_URL", url.to_string())],
        csd_env: &[],
        operator_vars: &[
            "GEMINI_CLI_HOME",
            "GEMINI_CLI_SYSTEM_SETTINGS_PATH",
            "GEMINI_MODEL",
            "GOOGLE_API_KEY",
            "GOOGLE_GENAI_USE_VERTEXAI",
            "GOOGLE_CLOUD_PROJECT",
            "GOOGLE_APPLICATION_CREDENTIALS",
        ],
        prompt: |command, marker| format!("csd doctor check.\nRUN: {command}\nSAY: {marker}"),
    }
}
