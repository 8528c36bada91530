//! What `csd doctor` gives Pi to prove it offline: a `mock` provider that
//! speaks Anthropic Messages to the mock, chosen by csd-launch's model
//! variable, with Pi's own offline switch.

use crate::harness::{MockApi, SelfTest};
use serde_json::json;

pub fn self_test() -> SelfTest {
    SelfTest {
        proven: "0.73.x",
        mock: MockApi::AnthropicMessages { tool: "bash" },
        seed: |url, key| {
            let models = json!({"providers": {"mock": {
                "baseUrl": url, "api": "anthropic-messages", "apiKey": key,
                "models": [{"id": "mock-model", "name": "Mock"}],
            }}});
            vec![
                (".pi/agent/models.json", models.to_string()),
                (".pi/agent/auth.json", "{}".into()),
                (".pi/agent/settings.json", json!({"quietStartup": false}).to_string()),
            ]
        },
        env: |_, _| vec![("PI_OFFLINE", "1".into())],
        csd_env: &[("CSD_PI_MODEL", "mock/mock-model")],
        operator_vars: &["PI_CODING_AGENT_DIR", "PI_CODING_AGENT_SESSION_DIR"],
        prompt: |command, _| format!("csd doctor check.\nrun: {command}"),
    }
}
