//! Every binary's interface, declared once as plain data ([`spec`]), and
//! what is generated from it: `-h` and `--help`, the man pages (`make man`
//! writes `man/*.1`), and bash, zsh and fish completions (`csd completions
//! SHELL`). The lexopt loops in `bins/` stay as they are; `tests/interface.rs`
//! proves each accepts exactly what its declaration lists.
//!
//! Text in a declaration is plain: paragraphs are separated by a blank line,
//! a paragraph `# Title` is a subheading, and a line that starts with two
//! spaces is kept as it is (an example, a table), in the help and in the man
//! page alike.

pub mod complete;
pub mod man;
pub mod spec;

pub use spec::{tool, TOOLS};

/// One binary.
pub struct Tool {
    pub name: &'static str,
    /// One line, lower case, no final period: "wait for a csd worker to end its turn".
    pub summary: &'static str,
    /// Each form of the command line, after the binary's name.
    pub usage: &'static [&'static str],
    /// What it does, for `--help` and the man page.
    pub description: &'static str,
    pub options: &'static [Opt],
    pub operands: &'static [Operand],
    /// The variables it reads.
    pub env: &'static [Var],
    pub exits: &'static [Exit],
    pub examples: &'static [Example],
    /// `csd`'s subcommands; empty for the others.
    pub subcommands: &'static [Sub],
}

/// An option. `-h/--help` and `-V/--version` are every binary's and are
/// not declared here (the generators add them).
pub struct Opt {
    pub short: Option<char>,
    pub long: &'static str,
    /// The value's name (`N`, `TYPE`), or `None` for a flag. A name in
    /// `[=…]` (`[=BRANCH]`) is an optional value, given only after `=`.
    pub value: Option<&'static str>,
    /// What completes the value.
    pub complete: Complete,
    /// One line, for `-h` and completions.
    pub help: &'static str,
    /// More, for `--help` and the man page ("" when the line says it all).
    pub more: &'static str,
}

/// A positional argument.
pub struct Operand {
    pub name: &'static str,
    pub complete: Complete,
    pub help: &'static str,
}

/// What a value or an operand is, for completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Complete {
    /// Free text or a number: nothing to offer.
    Nothing,
    /// A worker's name (the shims in the worker dir's `bin/`).
    Worker,
    /// `claude`, `codex` or `pi`.
    Harness,
    /// An event type (`stop`, `pre_tool_use`, …).
    EventType,
    /// A directory.
    Dir,
    /// A shell: `bash`, `zsh` or `fish`.
    Shell,
}

pub struct Var {
    pub name: &'static str,
    pub help: &'static str,
}

pub struct Exit {
    /// `0`, `124`, `128+N`.
    pub code: &'static str,
    pub help: &'static str,
}

pub struct Example {
    pub command: &'static str,
    pub help: &'static str,
}

/// A `csd` subcommand: the binary it runs, the arguments that go first, and
/// whether it acts on one worker (`--worker NAME`, or a shim).
pub struct Sub {
    pub name: &'static str,
    pub bin: &'static str,
    pub pre: &'static [&'static str],
    pub per_worker: bool,
    /// Its arguments, as a user types them after the subcommand.
    pub usage: &'static str,
    pub summary: &'static str,
}

impl Opt {
    /// Whether it takes a value, as the next argument or after `=`.
    pub fn takes_value(&self) -> bool {
        self.value.is_some() && !self.optional_value()
    }

    /// Whether it may have a value, after `=` only (`--worktree[=BRANCH]`).
    pub fn optional_value(&self) -> bool {
        self.value.is_some_and(|v| v.starts_with("[="))
    }

    /// `-n, --last N` as help and man pages show it.
    pub fn label(&self) -> String {
        let mut s = match self.short {
            Some(c) => format!("-{c}, --{}", self.long),
            None => format!("    --{}", self.long),
        };
        if let Some(v) = self.value {
            if !self.optional_value() {
                s.push(' ');
            }
            s.push_str(&expand(v));
        }
        s
    }
}

/// The options every binary has besides its own.
pub const COMMON: [Opt; 2] = [
    Opt {
        short: Some('h'),
        long: "help",
        value: None,
        complete: Complete::Nothing,
        help: "print help (-h: short, --help: all of it)",
        more: "",
    },
    Opt {
        short: Some('V'),
        long: "version",
        value: None,
        complete: Complete::Nothing,
        help: "print the version",
        more: "",
    },
];

impl Tool {
    /// The arguments every binary answers alike (`-h`, `--help`, `-V`,
    /// `--version`): printed, and the status to exit with; `None` for any
    /// other argument, which the binary's own loop parses.
    pub fn answer_common(&self, arg: &lexopt::Arg) -> Option<crate::error::Result<i32>> {
        use lexopt::Arg::{Long, Short};
        match arg {
            Short('h') => Some(crate::cli::print_help(&self.short_help())),
            Long("help") => Some(crate::cli::print_help(&self.long_help())),
            Short('V') | Long("version") => Some(crate::cli::print_version(self.name)),
            _ => None,
        }
    }

    /// Its own options and the common ones.
    pub fn all_options(&self) -> impl Iterator<Item = &Opt> {
        self.options.iter().chain(COMMON.iter())
    }

    fn usage_lines(&self) -> String {
        let mut out = String::new();
        for (i, u) in self.usage.iter().enumerate() {
            let lead = if i == 0 { "Usage: " } else { "       " };
            let sep = if u.is_empty() { "" } else { " " };
            out.push_str(&format!("{lead}{}{sep}{u}\n", self.name));
        }
        out
    }

    /// Its variables, `HARNESS_VARS` replaced by each harness's own.
    pub fn env_vars(&self) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        for v in self.env {
            if v.name == HARNESS_VARS {
                out.extend(crate::harness::HarnessKind::all().flat_map(|k| k.driver().variables().iter().copied()));
            } else {
                out.push((v.name, v.help));
            }
        }
        out
    }

    /// `-h`: what it is, how it is called, its options in a line each.
    pub fn short_help(&self) -> String {
        let mut out = format!("{}: {}\n\n{}", self.name, self.summary, self.usage_lines());
        if !self.subcommands.is_empty() {
            out.push_str(&self.subcommand_table());
        }
        out.push_str("\nOptions:\n");
        out.push_str(&option_table(self.all_options(), false));
        out.push_str(&format!(
            "\n{}\nRun '{} --help' for the whole of it, or see {}(1).\n",
            self.exit_line(),
            self.name,
            self.name
        ));
        expand(&out).into_owned()
    }

    /// `--help`: all of it.
    pub fn long_help(&self) -> String {
        let mut out = format!("{}: {}\n\n{}", self.name, self.summary, self.usage_lines());
        if !self.description.is_empty() {
            out.push('\n');
            out.push_str(&wrap_text(self.description, 78));
        }
        if !self.subcommands.is_empty() {
            out.push_str(&self.subcommand_table());
        }
        if !self.operands.is_empty() {
            out.push_str("\nArguments:\n");
            let w = self.operands.iter().map(|o| o.name.len()).max().unwrap_or(0).max(12);
            for o in self.operands {
                out.push_str(&hanging(&format!("  {:<w$}  ", o.name), o.help, 78));
            }
        }
        out.push_str("\nOptions:\n");
        out.push_str(&option_table(self.all_options(), true));
        let env = self.env_vars();
        if !env.is_empty() {
            out.push_str("\nEnvironment:\n");
            let w = env.iter().map(|(name, _)| name.len()).max().unwrap_or(0).min(26);
            for (name, help) in &env {
                let label = format!("  {name:<w$}  ");
                out.push_str(&hanging(&label, help, 78));
            }
        }
        if !self.exits.is_empty() {
            out.push_str("\nExit status:\n");
            for e in self.exits {
                out.push_str(&hanging(&format!("  {:<6} ", e.code), e.help, 78));
            }
        }
        if !self.examples.is_empty() {
            out.push_str("\nExamples:\n");
            for e in self.examples {
                for l in e.command.lines() {
                    out.push_str(&format!("  {l}\n"));
                }
                if !e.help.is_empty() {
                    out.push_str(&hanging("      ", e.help, 78));
                }
            }
        }
        expand(&out).into_owned()
    }

    /// The exit statuses on one line, for `-h`.
    fn exit_line(&self) -> String {
        let parts: Vec<String> = self.exits.iter().map(|e| format!("{} {}", e.code, first_clause(e.help))).collect();
        wrap_text(&format!("Exit status: {}.", parts.join(", ")), 78)
    }

    fn subcommand_table(&self) -> String {
        let mut out = String::new();
        for (title, per_worker) in [
            ("Top-level subcommands:", false),
            ("Per-worker subcommands (csd --worker NAME SUB, or the worker's shim):", true),
        ] {
            out.push_str(&format!("\n{title}\n"));
            for s in self.subcommands.iter().filter(|s| s.per_worker == per_worker) {
                let head = format!("  {} {}", s.name, s.usage);
                let head = head.trim_end();
                if head.len() <= 22 {
                    out.push_str(&hanging(&format!("{head:<24}"), s.summary, 78));
                } else {
                    out.push_str(&format!("{head}\n"));
                    out.push_str(&hanging(&" ".repeat(24), s.summary, 78));
                }
            }
        }
        out
    }
}

/// The part of an exit status's help before its first comma or parenthesis.
fn first_clause(s: &str) -> &str {
    let end = s.find([',', '(', ';', ':']).unwrap_or(s.len());
    s[..end].trim_end().trim_end_matches('.')
}

fn option_table<'a>(opts: impl Iterator<Item = &'a Opt>, long: bool) -> String {
    let opts: Vec<&Opt> = opts.collect();
    let w = opts.iter().map(|o| o.label().len()).max().unwrap_or(0).min(24);
    let mut out = String::new();
    for o in opts {
        let label = format!("  {:<w$}  ", o.label());
        let text = if long && !o.more.is_empty() { format!("{}; {}", o.help, o.more) } else { o.help.to_string() };
        out.push_str(&hanging(&label, &text, 78));
    }
    out
}

/// `label` then `text` wrapped to `width`, later lines indented under the
/// text (or on a line of their own when the label is wider than the indent).
fn hanging(label: &str, text: &str, width: usize) -> String {
    let text = &*expand(text);
    let indent = label.chars().count().min(30);
    let pad = " ".repeat(indent);
    let lines = wrap_words(text, width.saturating_sub(indent).max(20));
    let mut out = String::new();
    if label.chars().count() > 30 {
        out.push_str(label.trim_end());
        out.push('\n');
        for l in lines {
            out.push_str(&format!("{pad}{l}\n"));
        }
        return out;
    }
    for (i, l) in lines.iter().enumerate() {
        if i == 0 {
            out.push_str(&format!("{label}{l}\n"));
        } else {
            out.push_str(&format!("{pad}{l}\n"));
        }
    }
    if lines.is_empty() {
        out.push_str(label.trim_end());
        out.push('\n');
    }
    out
}

fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// A `Var` that stands for every harness's own variables.
pub const HARNESS_VARS: &str = "{HARNESS_VARS}";

/// The spec's words for what the harness registry holds, so help, man pages
/// and completions name every harness without the spec listing them:
/// `{HARNESSES|}` claude|codex|pi, `{HARNESSES}` claude (the default), codex
/// or pi, `{HARNESS_TITLES}` Claude Code, Codex or Pi, `{HARNESS_BINS}`
/// CSD_CLAUDE_BIN, …, `{HARNESS_PROVEN}` each harness's title and proven
/// versions, `{HARNESS_MOCKS}` which mock protocol each is proven against.
pub fn expand(text: &str) -> std::borrow::Cow<'_, str> {
    use crate::harness::{HarnessKind, MockApi};
    if !text.contains("{HARNESS") {
        return std::borrow::Cow::Borrowed(text);
    }
    let all: Vec<HarnessKind> = HarnessKind::all().collect();
    let names: Vec<String> = all
        .iter()
        .enumerate()
        .map(|(i, k)| if i == 0 { format!("{} (the default)", k.name()) } else { k.name().to_string() })
        .collect();
    let proven: Vec<String> =
        all.iter().map(|k| format!("{} {}", k.driver().title(), k.driver().self_test().proven)).collect();
    let protocol = |api: MockApi| match api {
        MockApi::AnthropicMessages { .. } => "the Anthropic Messages API",
        MockApi::OpenAiResponses => "the OpenAI Responses API",
        MockApi::OpenAiChat => "the OpenAI chat completions API",
        MockApi::GeminiGenerateContent => "the Gemini API (streamed generateContent)",
    };
    let mut mocks: Vec<(&str, Vec<&str>)> = Vec::new();
    for k in &all {
        let p = protocol(k.driver().self_test().mock);
        match mocks.iter_mut().find(|(q, _)| *q == p) {
            Some((_, titles)) => titles.push(k.driver().title()),
            None => mocks.push((p, vec![k.driver().title()])),
        }
    }
    let mocks: Vec<String> =
        mocks.into_iter().map(|(p, titles)| format!("{p} for {}", or_list(&titles, "and"))).collect();
    let bins: Vec<String> = all.iter().map(|k| k.bin_env()).collect();
    let session_args: Vec<String> = all.iter().map(|k| session_args_of(k.driver())).collect();
    let adopt: Vec<String> = all
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let how = if i == 0 { String::new() } else { format!(" (--harness {})", k.name()) };
            format!("{}'s{how} {}", k.driver().title(), k.driver().adopt_note())
        })
        .collect();
    let notes: Vec<&str> = all.iter().map(|k| k.driver().launch_note()).collect();
    std::borrow::Cow::Owned(
        text.replace("{HARNESS_SESSION_ARGS}", &session_args.join("; "))
            .replace("{HARNESS_ADOPT}", &adopt.join(", "))
            .replace("{HARNESS_NOTES}", &notes.join("\n\n"))
            .replace("{HARNESSES|}", &HarnessKind::names("|"))
            .replace("{HARNESSES}", &or_list(&names, "or"))
            .replace("{HARNESS_TITLES}", &or_list(&all.iter().map(|k| k.driver().title()).collect::<Vec<_>>(), "or"))
            .replace("{HARNESS_BINS}", &bins.join(", "))
            .replace("{HARNESS_PROVEN}", &proven.join(", "))
            .replace("{HARNESS_MOCKS}", &mocks.join(", ")),
    )
}

/// `Claude Code's --session-id, --resume/-r and --from-pr`: a short option
/// written after its long one is shown beside it.
fn session_args_of(h: &dyn crate::harness::Harness) -> String {
    let args = h.session_args();
    let mut shown: Vec<String> = args.words.iter().map(|w| w.to_string()).collect();
    for o in args.options {
        match shown.last_mut() {
            Some(last) if !o.starts_with("--") && last.starts_with("--") && !last.contains('/') => {
                last.push('/');
                last.push_str(o);
            }
            _ => shown.push(o.to_string()),
        }
    }
    format!("{}'s {}", h.title(), or_list(&shown, "and"))
}

/// `a, b or c`.
fn or_list<S: AsRef<str>>(items: &[S], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} {word} {}", init.join(", "), last.as_ref())
        }
    }
}

/// Paragraphs wrapped to `width`, blank lines between them, and lines that
/// start with two spaces kept as they are.
pub fn wrap_text(text: &str, width: usize) -> String {
    let text = expand(text);
    let mut out = String::new();
    for (i, para) in paragraphs(&text).iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match para {
            Para::Text(t) => {
                for l in wrap_words(t, width) {
                    out.push_str(&l);
                    out.push('\n');
                }
            }
            Para::Verbatim(lines) => {
                for l in lines {
                    out.push_str(l);
                    out.push('\n');
                }
            }
            Para::Heading(h) => {
                out.push_str(h);
                out.push_str(":\n");
            }
        }
    }
    out
}

/// A piece of a description.
pub enum Para<'a> {
    /// Words to fill.
    Text(String),
    /// Lines to keep as they are (each starts with two spaces).
    Verbatim(Vec<&'a str>),
    /// A subheading (`# Title`).
    Heading(&'a str),
}

pub fn paragraphs(text: &str) -> Vec<Para<'_>> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let lines: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.is_empty() {
            continue;
        }
        if let [one] = lines[..] {
            if let Some(h) = one.strip_prefix("# ") {
                out.push(Para::Heading(h.trim()));
                continue;
            }
        }
        if lines.iter().all(|l| l.starts_with("  ")) {
            out.push(Para::Verbatim(lines));
        } else {
            out.push(Para::Text(lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_wraps_and_verbatim_stays() {
        let t = wrap_text("one two three four\nfive\n\n  keep   this\n  and this\n\nlast", 10);
        assert_eq!(t, "one two\nthree four\nfive\n\n  keep   this\n  and this\n\nlast\n");
    }

    #[test]
    fn every_tool_renders() {
        for t in TOOLS {
            assert!(t.short_help().starts_with(&format!("{}: ", t.name)));
            assert!(t.long_help().contains("Options:"));
            assert!(man::page(t).contains("\n.TH "));
        }
    }
}
