//! A man page from a declaration: groff `-man`, the version from Cargo.toml
//! and a date that changes only when [`DATE`] is bumped (so `make man` is
//! reproducible and the committed pages can be checked against it).

use super::{paragraphs, Para, Tool, TOOLS};

/// The date on every page: bump it when the interface changes.
pub const DATE: &str = "2026-11-30";

/// The whole page.
pub fn page(t: &Tool) -> String {
    let mut out = format!(
        ".\\\" Generated from shared/interface/spec.rs by 'make man': edit that, not this.\n\
         .TH {} 1 \"{DATE}\" \"csd {}\" \"User Commands\"\n.nh\n",
        t.name.to_uppercase(),
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(&format!(".SH NAME\n{} \\- {}\n", t.name, esc(t.summary)));
    out.push_str(&synopsis(t));
    if !t.description.is_empty() {
        out.push_str(".SH DESCRIPTION\n");
        out.push_str(&body(t.description));
    }
    out.push_str(&subcommands(t));
    if !t.operands.is_empty() {
        out.push_str(".SH ARGUMENTS\n");
        for o in t.operands {
            out.push_str(&format!(".TP\n.I {}\n{}\n", esc(o.name), line(o.help)));
        }
    }
    out.push_str(&options(t));
    let sections: [(&str, Vec<(&str, &str)>); 2] =
        [("ENVIRONMENT", t.env_vars()), ("EXIT STATUS", t.exits.iter().map(|e| (e.code, e.help)).collect())];
    for (title, items) in sections.iter().filter(|(_, items)| !items.is_empty()) {
        out.push_str(&format!(".SH {title}\n"));
        for (name, help) in items {
            out.push_str(&format!(".TP\n.B {}\n{}\n", esc(name), line(&sentence(help))));
        }
    }
    out.push_str(&examples(t));
    let others: Vec<String> =
        TOOLS.iter().filter(|o| o.name != t.name).map(|o| format!(".BR {} (1)", o.name)).collect();
    out.push_str(".SH SEE ALSO\n");
    out.push_str(&others.join(",\n"));
    out.push('\n');
    super::expand(&out).into_owned()
}

fn synopsis(t: &Tool) -> String {
    let mut out = String::from(".SH SYNOPSIS\n");
    for (i, u) in t.usage.iter().enumerate() {
        if i > 0 {
            out.push_str(".br\n");
        }
        out.push_str(&format!(".B {}\n", t.name));
        if !u.is_empty() {
            out.push_str(&format!("{}\n", line(u)));
        }
    }
    out
}

fn subcommands(t: &Tool) -> String {
    let mut out = String::new();
    if t.subcommands.is_empty() {
        return out;
    }
    for (title, per_worker) in [("TOP-LEVEL SUBCOMMANDS", false), ("PER-WORKER SUBCOMMANDS", true)] {
        out.push_str(&format!(".SH {title}\n"));
        for s in t.subcommands.iter().filter(|s| s.per_worker == per_worker) {
            out.push_str(&format!(".TP\n.B {}\n", esc(format!("{} {}", s.name, s.usage).trim_end())));
            out.push_str(&format!("{} (runs \\fB{}", line(s.summary), s.bin));
            for p in s.pre {
                out.push_str(&format!(" {}", esc(p)));
            }
            out.push_str("\\fR)\n");
        }
    }
    out
}

fn options(t: &Tool) -> String {
    let mut out = String::from(".SH OPTIONS\n");
    for o in t.all_options() {
        let mut head = match o.short {
            Some(c) => format!(".BR \\-{c} \", \" \\-\\-{}", esc(o.long)),
            None => format!(".B \\-\\-{}", esc(o.long)),
        };
        if let Some(v) = o.value.filter(|v| v.starts_with("[=")) {
            let name = v.trim_start_matches("[=").trim_end_matches(']');
            head = format!(".B \\-\\-{}[=\\fI{}\\fB]", esc(o.long), esc(name));
        } else if let Some(v) = o.value {
            head = match o.short {
                Some(c) => format!(".BR \\-{c} \", \" \\-\\-{} \" \" \\fI{}\\fR", esc(o.long), esc(v)),
                None => format!(".BI \\-\\-{} \" {}\"", esc(o.long), esc(v)),
            };
        }
        out.push_str(&format!(".TP\n{head}\n{}\n", line(&sentence(o.help))));
        if !o.more.is_empty() {
            out.push_str(&format!("{}\n", line(&sentence(o.more))));
        }
    }
    out
}

fn examples(t: &Tool) -> String {
    let mut out = String::new();
    if t.examples.is_empty() {
        return out;
    }
    out.push_str(".SH EXAMPLES\n");
    for (i, e) in t.examples.iter().enumerate() {
        if i > 0 {
            out.push_str(".PP\n");
        }
        out.push_str(&format!(".nf\n{}\n.fi\n", verbatim(e.command)));
        if !e.help.is_empty() {
            out.push_str(&format!("{}\n", line(&sentence(e.help))));
        }
    }
    out
}

/// A description's paragraphs as groff.
fn body(text: &str) -> String {
    let text = super::expand(text);
    let mut out = String::new();
    let mut after_heading = true;
    for p in paragraphs(&text).iter() {
        if !after_heading && !matches!(p, Para::Heading(_)) {
            out.push_str(".PP\n");
        }
        after_heading = matches!(p, Para::Heading(_));
        match p {
            Para::Heading(h) => {
                out.push_str(&format!(".SS {}\n", esc(h)));
            }
            Para::Text(t) => {
                out.push_str(&line(t));
                out.push('\n');
            }
            Para::Verbatim(lines) => {
                out.push_str(".RS 2\n.nf\n");
                for l in lines {
                    out.push_str(&verbatim(&l[2..]));
                    out.push('\n');
                }
                out.push_str(".fi\n.RE\n");
            }
        }
    }
    out
}

/// Text for a filled line: escaped, and one sentence a line, as groff likes.
fn line(text: &str) -> String {
    let e = esc(text);
    let mut out = String::new();
    let mut rest = e.as_str();
    while let Some(i) = rest.find(". ") {
        let (head, tail) = rest.split_at(i + 1);
        out.push_str(head);
        out.push('\n');
        rest = tail.trim_start();
    }
    out.push_str(rest);
    guard_lines(&out)
}

/// A line kept as it is, escaped.
fn verbatim(text: &str) -> String {
    guard_lines(&esc(text))
}

/// A line that starts with `.` or `'` would be read as a request.
fn guard_lines(text: &str) -> String {
    text.lines()
        .map(|l| if l.starts_with('.') || l.starts_with('\'') { format!("\\&{l}") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

/// groff's special characters: backslash, and `-` (a hyphen that must stay
/// a minus, as in options, so it can be copied).
fn esc(s: &str) -> String {
    super::expand(s).replace('\\', "\\e").replace('-', "\\-")
}

fn sentence(s: &str) -> String {
    let mut s = super::expand(s).trim().to_string();
    if let Some(first) = s.chars().next() {
        s = first.to_uppercase().collect::<String>() + &s[first.len_utf8()..];
    }
    if !s.ends_with(['.', ')', ':', '!', '?']) {
        s.push('.');
    }
    s
}
