//! The tools: for each, the csd binary it runs, its input and output
//! schemas, how its arguments become an argument vector, and how what the
//! binary printed becomes the tool's structured result. Descriptions come
//! from the binaries' declarations (shared/interface/spec.rs), so they say
//! what `-h` says and never drift from it.

use csd::interface::{expand, spec, Tool as Decl};
use serde_json::{json, Map, Value};

/// One call, ready to run: the binary, its arguments, what goes on its
/// standard input (a prompt), and whether it may take long (progress).
pub struct Call {
    pub bin: &'static str,
    pub args: Vec<String>,
    pub stdin: Option<String>,
}

pub struct Def {
    pub name: &'static str,
    /// The binary's declaration, for the description.
    pub decl: &'static Decl,
    /// What the tool does, as MCP sees it: the first line of its description.
    pub lead: &'static str,
    pub input: fn() -> Value,
    pub output: fn() -> Value,
    pub argv: fn(&Args) -> Result<Call, String>,
    /// stdout (and stderr, for launch's panel) into the structured result.
    pub parse: fn(&str, &str, &Args) -> Value,
    /// Runs until a worker answers: sends progress while it waits.
    pub long: bool,
}

pub const DEFS: &[Def] = &[
    Def {
        name: "launch",
        decl: &spec::CSD_LAUNCH,
        lead: "Start a worker (Claude Code, Codex or Pi) in tmux, here or on --host, and wait until it is ready.",
        input: launch_input,
        output: launch_output,
        argv: launch_argv,
        parse: launch_parse,
        long: true,
    },
    Def {
        name: "send",
        decl: &spec::CSD_SEND,
        lead: "Submit a prompt to a worker (csd-send --receipt); returns at once with the receipt, the event-log \
               line that took it (give it to wait as after_line).",
        input: send_input,
        output: || object(&[("receipt", json!({"type": "integer"}))], &["receipt"]),
        argv: |a| prompt_call(a, &["--receipt"], &[]),
        parse: |out, _, _| json!({"receipt": out.trim().parse::<u64>().ok()}),
        long: false,
    },
    Def {
        name: "converse",
        decl: &spec::CSD_SEND,
        lead: "Submit a prompt to a worker, wait for its turn to end, and return the reply (csd-send --converse).",
        input: converse_input,
        output: || object(&[("reply", json!({"type": "string"}))], &["reply"]),
        argv: converse_argv,
        parse: |out, _, _| json!({"reply": out}),
        long: true,
    },
    Def {
        name: "answer",
        decl: &spec::CSD_SEND,
        lead: "Answer the question a blocked worker waits on: option N of each question (csd-send --answer).",
        input: answer_input,
        output: message_output,
        argv: answer_argv,
        parse: message_parse,
        long: false,
    },
    Def {
        name: "wait",
        decl: &spec::CSD_WAIT,
        lead: "Wait for one worker's next turn end (worker, after_line), or until any or all of several workers \
               have answered (any, all).",
        input: wait_input,
        output: wait_output,
        argv: wait_argv,
        parse: wait_parse,
        long: true,
    },
    Def {
        name: "read_turn",
        decl: &spec::CSD_TURN,
        lead: "A worker's last turn as markdown (csd-turn).",
        input: || object(&[("worker", worker()), ("full", opt_bool(&spec::CSD_TURN, "full"))], &["worker"]),
        output: || object(&[("markdown", json!({"type": "string"}))], &["markdown"]),
        argv: |a| {
            let mut args = flags(a, &[("full", "--full")])?;
            args.push(a.worker("worker")?);
            Ok(call("csd-turn", args))
        },
        parse: |out, _, _| json!({"markdown": out}),
        long: false,
    },
    Def {
        name: "read_events",
        decl: &spec::CSD_EVENTS,
        lead: "A worker's event log (or every worker's, all), as JSON objects (csd-events).",
        input: events_input,
        output: || object(&[("events", json!({"type": "array", "items": {"type": "object"}}))], &["events"]),
        argv: events_argv,
        parse: |out, _, _| json!({"events": json_lines(out)}),
        long: false,
    },
    Def {
        name: "status",
        decl: &spec::CSD_STATUS,
        lead: "What a worker is doing: its status and the rest of csd-status --json.",
        input: || object(&[("worker", worker())], &["worker"]),
        output: status_output,
        argv: |a| Ok(call("csd-status", vec!["--json".into(), a.worker("worker")?])),
        parse: |out, _, _| serde_json::from_str(out.trim()).unwrap_or_else(|_| json!({"status": out.trim()})),
        long: false,
    },
    Def {
        name: "list",
        decl: &spec::CSD_STATUS,
        lead: "The workers there are, each as csd-status --list --json gives it.",
        input: list_input,
        output: || object(&[("workers", json!({"type": "array", "items": status_output()}))], &["workers"]),
        argv: list_argv,
        parse: |out, _, _| json!({"workers": serde_json::from_str::<Value>(out.trim()).unwrap_or(json!([]))}),
        long: false,
    },
    Def {
        name: "diff",
        decl: &spec::CSD_STATUS,
        lead: "What a worker launched with a worktree changed since its base, committed or not, as a patch git \
               apply takes (csd-status --diff).",
        input: || object(&[("worker", worker())], &["worker"]),
        output: || object(&[("patch", json!({"type": "string"}))], &["patch"]),
        argv: |a| Ok(call("csd-status", vec!["--diff".into(), a.worker("worker")?])),
        parse: |out, _, _| json!({"patch": out}),
        long: false,
    },
    Def {
        name: "stop",
        decl: &spec::CSD_STOP,
        lead: "Stop a worker and clean up after it (csd-stop); a worktree with work in it is kept.",
        input: || object(&[("worker", worker()), ("discard", opt_bool(&spec::CSD_STOP, "discard"))], &["worker"]),
        output: message_output,
        argv: |a| {
            let mut args = flags(a, &[("discard", "--discard")])?;
            args.push(a.worker("worker")?);
            Ok(call("csd-stop", args))
        },
        parse: message_parse,
        long: false,
    },
    Def {
        name: "handoff",
        decl: &spec::CSD_STOP,
        lead: "Hand a worker to a human: csd lets it go, its tmux session runs on (csd-stop --handoff).",
        input: || object(&[("worker", worker())], &["worker"]),
        output: message_output,
        argv: |a| Ok(call("csd-stop", vec!["--handoff".into(), a.worker("worker")?])),
        parse: message_parse,
        long: false,
    },
];

pub fn find(name: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.name == name)
}

/// The tool's description: what it does, then the help of the binary it
/// runs, as `-h` prints it.
pub fn description(d: &Def) -> String {
    format!("{}\n\n{}", d.lead, d.decl.short_help())
}

/// A tool call's arguments, checked as they are read: a wrong type is a
/// usage error, as the binary's own would be.
pub struct Args(pub Map<String, Value>);

impl Args {
    pub fn str(&self, key: &str) -> Result<Option<String>, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(format!("{key} must be a string, got {v}")),
        }
    }

    pub fn need(&self, key: &str) -> Result<String, String> {
        self.str(key)?.ok_or_else(|| format!("{key} is required"))
    }

    /// A worker's name: never taken for an option.
    pub fn worker(&self, key: &str) -> Result<String, String> {
        let w = self.need(key)?;
        if w.starts_with('-') {
            return Err(format!("{key} must be a worker's name, got '{w}'"));
        }
        Ok(w)
    }

    pub fn bool(&self, key: &str) -> Result<bool, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(format!("{key} must be true or false, got {v}")),
        }
    }

    /// A number given as a JSON number (or a string of one), as its text.
    pub fn number(&self, key: &str) -> Result<Option<String>, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::String(s)) if s.parse::<f64>().is_ok() => Ok(Some(s.clone())),
            Some(v) => Err(format!("{key} must be a number, got {v}")),
        }
    }

    pub fn strings(&self, key: &str) -> Result<Vec<String>, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(format!("{key} must be a list of strings, got {v}")),
                })
                .collect(),
            Some(v) => Err(format!("{key} must be a list, got {v}")),
        }
    }

    /// Seconds: how long a call may take, for the progress total.
    pub fn seconds(&self, key: &str) -> Option<f64> {
        self.number(key).ok().flatten().and_then(|s| s.parse().ok())
    }
}

fn call(bin: &'static str, args: Vec<String>) -> Call {
    Call { bin, args, stdin: None }
}

/// `--flag` for each boolean argument that is true.
fn flags(a: &Args, pairs: &[(&str, &str)]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (key, flag) in pairs {
        if a.bool(key)? {
            out.push(flag.to_string());
        }
    }
    Ok(out)
}

// Schemas.

fn object(props: &[(&str, Value)], required: &[&str]) -> Value {
    let props: Map<String, Value> = props.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    json!({"type": "object", "properties": props, "required": required})
}

/// The declared help of option `--long` of `decl`, for a field's description.
fn opt_help(decl: &Decl, long: &str) -> String {
    let o = decl.options.iter().find(|o| o.long == long).unwrap_or_else(|| panic!("{} has no --{long}", decl.name));
    let more = if o.more.is_empty() { String::new() } else { format!(" ({})", o.more) };
    expand(&format!("--{}: {}{more}", o.long, o.help)).into_owned()
}

fn opt_bool(decl: &Decl, long: &str) -> Value {
    json!({"type": "boolean", "description": opt_help(decl, long)})
}

fn opt_string(decl: &Decl, long: &str) -> Value {
    json!({"type": "string", "description": opt_help(decl, long)})
}

fn opt_number(decl: &Decl, long: &str) -> Value {
    json!({"type": "number", "description": opt_help(decl, long)})
}

fn operand_help(decl: &Decl, name: &str) -> String {
    let o = decl.operands.iter().find(|o| o.name == name).unwrap_or_else(|| panic!("{} has no {name}", decl.name));
    expand(&format!("{name}: {}", o.help)).into_owned()
}

fn worker() -> Value {
    json!({"type": "string", "description": operand_help(&spec::CSD_STATUS, "WORKER")})
}

fn workers(what: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": what})
}

fn timeout(decl: &Decl) -> Value {
    json!({"type": "number", "exclusiveMinimum": 0, "description": operand_help(decl, "TIMEOUT")})
}

fn message_output() -> Value {
    object(&[("message", json!({"type": "string"}))], &["message"])
}

fn message_parse(out: &str, _: &str, _: &Args) -> Value {
    json!({"message": out.trim_end()})
}

fn status_output() -> Value {
    let any = json!({});
    let text = json!({"type": ["string", "null"]});
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"}, "harness": text, "status": {"type": "string"},
            "session_id": text, "cwd": text, "since": any, "tool": any,
            "prompt_line": {"type": ["integer", "null"]}, "tokens": any, "tmux_name": text, "shim": text,
            "events": text, "host": text, "csd_id": text, "last_turn": any, "worktree": any,
        },
        "required": ["status"],
    })
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

// launch

fn launch_input() -> Value {
    let d = &spec::CSD_LAUNCH;
    object(
        &[
            ("name", json!({"type": "string", "description": operand_help(d, "NAME")})),
            ("cwd", json!({"type": "string", "description": operand_help(d, "CWD")})),
            (
                "harness",
                json!({"type": "string", "enum": ["claude", "codex", "pi"], "description": opt_help(d, "harness")}),
            ),
            ("host", opt_string(d, "host")),
            (
                "adopt",
                json!({"type": "string", "description": format!("{} {}", opt_help(d, "adopt"), operand_help(d, "SID"))}),
            ),
            ("worktree", json!({"type": ["boolean", "string"], "description": opt_help(d, "worktree")})),
            ("base", opt_string(d, "base")),
            ("setup", opt_string(d, "setup")),
            (
                "args",
                json!({"type": "array", "items": {"type": "string"}, "description": "arguments for the harness CLI (after --)"}),
            ),
        ],
        &["name", "cwd"],
    )
}

fn launch_output() -> Value {
    object(
        &[
            ("name", json!({"type": "string"})),
            ("shim", json!({"type": "string", "description": "the worker's shim: csd's v4 words for this worker"})),
            ("panel", json!({"type": "string", "description": "what csd-launch said about the worker"})),
        ],
        &["name", "shim"],
    )
}

fn launch_argv(a: &Args) -> Result<Call, String> {
    let mut args = Vec::new();
    for key in ["harness", "host", "base", "setup"] {
        if let Some(v) = a.str(key)? {
            args.extend([format!("--{key}"), v]);
        }
    }
    match a.0.get("worktree") {
        Some(Value::String(b)) => args.push(format!("--worktree={b}")),
        _ if a.bool("worktree").unwrap_or(false) => args.push("--worktree".into()),
        _ => {}
    }
    let sid = a.str("adopt")?;
    if sid.is_some() {
        args.push("--adopt".into());
    }
    let name = a.worker("name")?;
    let mut cwd = a.need("cwd")?;
    if cwd.starts_with('-') {
        cwd = format!("./{cwd}");
    }
    args.extend([name, cwd]);
    args.extend(sid);
    let extra = a.strings("args")?;
    if !extra.is_empty() {
        args.push("--".into());
        args.extend(extra);
    }
    Ok(call("csd-launch", args))
}

fn launch_parse(out: &str, err: &str, a: &Args) -> Value {
    json!({"name": a.need("name").unwrap_or_default(), "shim": out.trim(), "panel": err.trim_end()})
}

// send, converse, answer

fn send_input() -> Value {
    let d = &spec::CSD_SEND;
    object(
        &[
            ("worker", worker()),
            ("prompt", json!({"type": "string", "description": operand_help(d, "PROMPT")})),
            ("timeout", timeout(d)),
        ],
        &["worker", "prompt"],
    )
}

fn converse_input() -> Value {
    let mut v = send_input();
    v["properties"]["with_turn"] = opt_bool(&spec::CSD_SEND, "with-turn");
    v
}

/// csd-send with the prompt on its standard input (`-`): any text, one
/// that starts with `-` too, is a prompt and never an option.
fn prompt_call(a: &Args, pre: &[&str], post: &[String]) -> Result<Call, String> {
    let mut args: Vec<String> = pre.iter().map(|s| s.to_string()).collect();
    args.push(a.worker("worker")?);
    args.extend(post.iter().cloned());
    args.push("-".into());
    args.extend(a.number("timeout")?);
    Ok(Call { bin: "csd-send", args, stdin: Some(a.need("prompt")?) })
}

fn converse_argv(a: &Args) -> Result<Call, String> {
    prompt_call(a, &["--converse"], &flags(a, &[("with_turn", "--with-turn")])?)
}

fn answer_input() -> Value {
    object(
        &[
            ("worker", worker()),
            (
                "choices",
                json!({"type": "array", "items": {"type": "integer", "minimum": 1},
                       "description": format!("N...: {}", opt_help(&spec::CSD_SEND, "answer"))}),
            ),
        ],
        &["worker", "choices"],
    )
}

fn answer_argv(a: &Args) -> Result<Call, String> {
    let choices = a.strings("choices")?;
    if choices.is_empty() {
        return Err("choices: give one option number per question".into());
    }
    let mut args = vec!["--answer".to_string(), a.worker("worker")?];
    args.extend(choices);
    Ok(call("csd-send", args))
}

// wait

fn wait_input() -> Value {
    let d = &spec::CSD_WAIT;
    object(
        &[
            ("worker", worker()),
            ("after_line", opt_number(d, "after-line")),
            ("any", workers(&opt_help(d, "any"))),
            ("all", workers(&opt_help(d, "all"))),
            ("timeout", timeout(d)),
        ],
        &[],
    )
}

fn wait_output() -> Value {
    object(
        &[
            ("event", json!({"type": ["object", "null"], "description": "one worker: the stop or session_end line"})),
            (
                "workers",
                json!({"type": "array", "description": "any, all: each worker as it finished: idle, failed, limited, \
                       interrupted, blocked, terminated or gone, and why",
                       "items": {"type": "object", "properties": {"worker": {"type": "string"},
                       "how": {"type": "string"}, "why": {"type": ["string", "null"]}}}}),
            ),
        ],
        &["workers"],
    )
}

fn wait_argv(a: &Args) -> Result<Call, String> {
    let (any, all) = (a.strings("any")?, a.strings("all")?);
    let one = a.str("worker")?;
    let mut args = Vec::new();
    match (one, any.is_empty(), all.is_empty()) {
        (Some(w), true, true) => {
            args.push(a.worker("worker").map(|_| w)?);
            args.extend(a.number("timeout")?);
            if let Some(n) = a.number("after_line")? {
                args.extend(["--after-line".into(), n]);
            }
        }
        (None, false, true) | (None, true, false) => {
            let (flag, names) = if any.is_empty() { ("--all", all) } else { ("--any", any) };
            if names.iter().any(|n| n.starts_with('-')) {
                return Err(format!("{flag}: a worker's name never starts with '-'"));
            }
            args.push(flag.into());
            args.extend(names);
            if let Some(t) = a.number("timeout")? {
                args.extend(["--timeout".into(), t]);
            }
        }
        _ => return Err("give one of worker, any or all".into()),
    }
    Ok(call("csd-wait", args))
}

/// One worker: the stop line. Many: `NAME<TAB>how[<TAB>why]` lines.
fn wait_parse(out: &str, _: &str, a: &Args) -> Value {
    if let Ok(Some(w)) = a.str("worker") {
        let event: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
        return json!({"event": event, "workers": [{"worker": w, "how": "idle", "why": null}]});
    }
    json!({"event": null, "workers": fleet_lines(out)})
}

pub fn fleet_lines(out: &str) -> Vec<Value> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            json!({"worker": f.next(), "how": f.next().unwrap_or(""), "why": f.next()})
        })
        .collect()
}

// read_events, list

fn events_input() -> Value {
    let d = &spec::CSD_EVENTS;
    object(
        &[
            ("worker", worker()),
            ("all", opt_bool(d, "all")),
            ("last", opt_number(d, "last")),
            ("type", opt_string(d, "type")),
        ],
        &[],
    )
}

fn events_argv(a: &Args) -> Result<Call, String> {
    let mut args = Vec::new();
    match (a.str("worker")?, a.bool("all")?) {
        (Some(_), false) => args.push(a.worker("worker")?),
        (None, true) => args.push("--all".into()),
        _ => return Err("give worker or all, not both".into()),
    }
    if let Some(n) = a.number("last")? {
        args.extend(["--last".into(), n]);
    }
    if let Some(t) = a.str("type")? {
        args.extend(["--type".into(), t]);
    }
    Ok(call("csd-events", args))
}

fn list_input() -> Value {
    let d = &spec::CSD_STATUS;
    let pattern = "PATTERN: only the workers whose names contain it";
    object(&[("all", opt_bool(d, "all")), ("pattern", json!({"type": "string", "description": pattern}))], &[])
}

fn list_argv(a: &Args) -> Result<Call, String> {
    let mut args = vec!["--list".to_string(), "--json".into()];
    args.extend(flags(a, &[("all", "--all")])?);
    if let Some(p) = a.str("pattern")? {
        if p.starts_with('-') {
            return Err(format!("pattern must not start with '-', got '{p}'"));
        }
        args.push(p);
    }
    Ok(call("csd-status", args))
}
