//! What `csd doctor` gives Codex to prove it offline: a provider pointed at
//! the mock's Responses endpoint with no retries, an API-key login, and a
//! dead proxy for its background fetches.

use crate::harness::{MockApi, SelfTest};

pub fn self_test() -> SelfTest {
    SelfTest {
        proven: "0.169.x",
        mock: MockApi::OpenAiResponses,
        seed: |url, key| {
            let config = format!(
                "model = \"gpt-5.5\"\nmodel_provider = \"mock\"\nmodel_reasoning_effort = \"low\"\n\n\
                 [model_providers.mock]\nname = \"Mock\"\nbase_url = \"{url}\"\nenv_key = \"MOCK_API_KEY\"\n\
                 wire_api = \"responses\"\nrequest_max_retries = 0\nstream_max_retries = 0\n"
            );
            let auth = serde_json::json!({"auth_mode": "apikey", "OPENAI_API_KEY": key}).to_string();
            vec![(".codex/config.toml", config), (".codex/auth.json", auth)]
        },
        env: |_, key| {
            vec![
                ("MOCK_API_KEY", key.to_string()),
                // Codex's background fetches go to a dead loopback port.
                ("HTTPS_PROXY", "http://127.0.0.1:9".into()),
                ("HTTP_PROXY", "http://127.0.0.1:9".into()),
                ("NO_PROXY", "127.0.0.1,localhost".into()),
            ]
        },
        csd_env: &[],
        operator_vars: &["CODEX_HOME", "CSD_CODEX_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL"],
        // The Responses mock takes its script from the prompt's own lines.
        prompt: |command, marker| format!("csd doctor check.\nRUN: {command}\nSAY: {marker}"),
    }
}
