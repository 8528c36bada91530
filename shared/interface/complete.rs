//! Shell completions from the declarations: `csd completions bash|zsh|fish`.
//!
//! They complete subcommands, options, harness names, event types,
//! directories, and worker names, which they read from the shims in the
//! worker dir's `bin/` (`$CSD_WORKER_DIR`, else /tmp/csd-workers): no csd
//! binary and no tmux runs while you press Tab.

use super::{Complete, Opt, Tool, TOOLS};
use crate::error::{usage, Result};

pub const SHELLS: [&str; 3] = ["bash", "zsh", "fish"];

pub fn script(shell: &str) -> Result<String> {
    match shell {
        "bash" => Ok(super::expand(&bash()).into_owned()),
        "zsh" => Ok(super::expand(&zsh()).into_owned()),
        "fish" => Ok(super::expand(&fish()).into_owned()),
        _ => Err(usage(format!("no completions for '{}' (bash, zsh or fish)", crate::name::printable(shell)))),
    }
}

fn harnesses() -> String {
    crate::harness::HarnessKind::names(" ")
}

fn events() -> String {
    crate::event::EventKind::names()
}

fn kind_word(c: Complete) -> &'static str {
    match c {
        Complete::Nothing => "nothing",
        Complete::Worker => "worker",
        Complete::Harness => "harness",
        Complete::EventType => "event",
        Complete::Dir => "dir",
        Complete::Shell => "shell",
    }
}

/// What a command line of `tool` looks like to the completer once `pre`
/// (the arguments a csd subcommand supplies) are given and, for a
/// per-worker subcommand, the worker is: its options and its operands.
struct Shape<'a> {
    options: Vec<&'a Opt>,
    operands: Vec<Complete>,
    /// The last operand repeats (`csd-wait --all W…`).
    repeats: bool,
}

fn shape<'a>(tool: &'a Tool, pre: &[&str], per_worker: bool) -> Shape<'a> {
    let options = tool.all_options().filter(|o| !pre.contains(&format!("--{}", o.long).as_str())).collect();
    let mut operands: Vec<Complete> = tool.operands.iter().map(|o| o.complete).collect();
    if per_worker && operands.first() == Some(&Complete::Worker) {
        operands.remove(0);
    }
    // The fleet forms take any number of workers and nothing else.
    let fleet = pre.iter().any(|p| *p == "--all" || *p == "--any") && tool.name == "csd-wait";
    if fleet {
        operands = vec![Complete::Worker];
    }
    Shape { options, operands, repeats: fleet }
}

/// bash: `complete -F` for every binary, one table-driven function.
fn bash() -> String {
    let mut out = bash_helpers();
    for t in TOOLS.iter().filter(|t| t.subcommands.is_empty()) {
        let f = format!("_csd_bin_{}", t.name.replace('-', "_"));
        out.push_str(&format!("{f}() {{ {}; }}\ncomplete -F {f} {}\n", bash_call(&shape(t, &[], false), "1"), t.name));
    }
    out.push_str(&bash_csd());
    out
}

/// The shell functions every bash completion calls: the values of each kind
/// (`_csd_values`) and the walk over a command's words (`_csd_args`).
fn bash_helpers() -> String {
    let mut out = String::from(
        "# bash completion for csd (generated from csd's interface declarations)\n\
         _csd_workers() {\n\
         \x20 local d=\"${CSD_WORKER_DIR:-/tmp/csd-workers}/bin\" f\n\
         \x20 [ -d \"$d\" ] || return 0\n\
         \x20 for f in \"$d\"/*; do [ -e \"$f\" ] && printf '%s\\n' \"${f##*/}\"; done\n\
         }\n\
         _csd_values() {\n\
         \x20 local cur=$2\n\
         \x20 case $1 in\n\
         \x20   worker) COMPREPLY=($(compgen -W \"$(_csd_workers)\" -- \"$cur\")) ;;\n",
    );
    out.push_str(&format!("    harness) COMPREPLY=($(compgen -W \"{}\" -- \"$cur\")) ;;\n", harnesses()));
    out.push_str(&format!("    event) COMPREPLY=($(compgen -W \"{}\" -- \"$cur\")) ;;\n", events()));
    out.push_str(&format!("    shell) COMPREPLY=($(compgen -W \"{}\" -- \"$cur\")) ;;\n", SHELLS.join(" ")));
    out.push_str(
        "    dir) COMPREPLY=($(compgen -d -- \"$cur\")) ;;\n\
         \x20   *) COMPREPLY=() ;;\n\
         \x20 esac\n\
         }\n\
         # _csd_args FIRST 'OPT=KIND …' 'FLAG …' 'KIND …': complete words FIRST.. of a\n\
         # command whose options take values of KIND, with these flags and operands.\n\
         _csd_args() {\n\
         \x20 local first=$1 valued=$2 flags=$3 cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} o w i n=0 skip=0\n\
         \x20 local -a kinds=($4)\n\
         \x20 if ((COMP_CWORD > first)); then\n\
         \x20   for o in $valued; do [[ $prev == \"${o%%=*}\" ]] && { _csd_values \"${o#*=}\" \"$cur\"; return; }; done\n\
         \x20 fi\n\
         \x20 for ((i = first; i < COMP_CWORD; i++)); do\n\
         \x20   w=${COMP_WORDS[i]}\n\
         \x20   if ((skip)); then skip=0; continue; fi\n\
         \x20   [[ $w == -- ]] && { COMPREPLY=(); return; }\n\
         \x20   for o in $valued; do [[ $w == \"${o%%=*}\" ]] && skip=1; done\n\
         \x20   ((skip)) && continue\n\
         \x20   [[ $w == -* ]] && continue\n\
         \x20   n=$((n + 1))\n\
         \x20 done\n\
         \x20 if [[ $cur == -* ]]; then\n\
         \x20   local all=$flags; for o in $valued; do all+=\" ${o%%=*}\"; done\n\
         \x20   COMPREPLY=($(compgen -W \"$all\" -- \"$cur\")); return\n\
         \x20 fi\n\
         \x20 local k=${kinds[n]}\n\
         \x20 if [[ -z $k && ${kinds[-1]} == *+ ]]; then k=${kinds[-1]}; fi\n\
         \x20 _csd_values \"${k%+}\" \"${cur}\"\n\
         }\n",
    );
    out
}

/// The `_csd_args` call completing a command of this shape from word `first`.
fn bash_call(s: &Shape, first: &str) -> String {
    let valued: Vec<String> = s
        .options
        .iter()
        .filter(|o| o.takes_value())
        .flat_map(|o| {
            let k = kind_word(o.complete);
            let mut v = vec![format!("--{}={k}", o.long)];
            v.extend(o.short.map(|c| format!("-{c}={k}")));
            v
        })
        .collect();
    let flags: Vec<String> = s.options.iter().filter(|o| !o.takes_value()).map(|o| format!("--{}", o.long)).collect();
    let mut kinds: Vec<String> = s.operands.iter().map(|c| kind_word(*c).to_string()).collect();
    if let (true, Some(last)) = (s.repeats, kinds.last_mut()) {
        last.push('+');
    }
    format!("_csd_args {first} '{}' '{}' '{}'", valued.join(" "), flags.join(" "), kinds.join(" "))
}

/// csd: [--worker NAME] SUBCOMMAND, then the subcommand's binary's arguments.
fn bash_csd() -> String {
    let csd = super::tool("csd").expect("csd is declared");
    let mut out = String::from(
        "_csd_bin_csd() {\n\
         \x20 local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} i=1 worker=\n\
         \x20 while [[ ${COMP_WORDS[i]} == --worker ]] && ((i + 1 < COMP_CWORD)); do worker=${COMP_WORDS[i+1]}; i=$((i + 2)); done\n\
         \x20 if [[ $prev == --worker ]]; then _csd_values worker \"$cur\"; return; fi\n\
         \x20 if ((COMP_CWORD == i)); then\n",
    );
    let top: Vec<&str> = csd.subcommands.iter().filter(|s| !s.per_worker).map(|s| s.name).collect();
    let per: Vec<&str> = csd.subcommands.iter().filter(|s| s.per_worker).map(|s| s.name).collect();
    out.push_str(&format!(
        "    if [[ -n $worker ]]; then COMPREPLY=($(compgen -W \"{}\" -- \"$cur\"));\n\
         \x20   elif [[ $cur == -* ]]; then COMPREPLY=($(compgen -W \"--worker --help --version\" -- \"$cur\"));\n\
         \x20   else COMPREPLY=($(compgen -W \"{} completions help\" -- \"$cur\")); fi\n\
         \x20   return\n\
         \x20 fi\n\
         \x20 case ${{COMP_WORDS[i]}} in\n",
        per.join(" "),
        top.join(" ")
    ));
    let first = "$((i + 1))";
    for s in csd.subcommands {
        let t = super::tool(s.bin).expect("a subcommand runs a declared binary");
        out.push_str(&format!("    {}) {} ;;\n", s.name, bash_call(&shape(t, s.pre, s.per_worker), first)));
    }
    out.push_str(&format!("    completions) _csd_args {first} '' '' 'shell' ;;\n"));
    out.push_str("    *) COMPREPLY=() ;;\n  esac\n}\ncomplete -F _csd_bin_csd csd\n");
    out
}

fn zsh_action(c: Complete) -> String {
    match c {
        Complete::Nothing => " ".into(),
        Complete::Worker => "_csd_workers".into(),
        Complete::Harness => format!("({})", harnesses()),
        Complete::EventType => format!("({})", events()),
        Complete::Dir => "_directories".into(),
        Complete::Shell => format!("({})", SHELLS.join(" ")),
    }
}

/// zsh: `_arguments` specs, one function per binary, `#compdef` for all.
fn zsh() -> String {
    let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
    let mut out = format!(
        "#compdef {}\n# zsh completion for csd (generated from csd's interface declarations)\n\n\
         _csd_workers() {{\n  local d=${{CSD_WORKER_DIR:-/tmp/csd-workers}}/bin\n  local -a w\n  w=(${{d}}/*(N:t))\n  compadd -a w\n}}\n\n",
        names.join(" ")
    );
    for t in TOOLS.iter().filter(|t| t.subcommands.is_empty()) {
        out.push_str(&format!(
            "_csd_bin_{}() {{\n  _arguments -s \\\n    {}\n}}\n\n",
            t.name.replace('-', "_"),
            zsh_specs(&shape(t, &[], false)).join(" \\\n    ")
        ));
    }
    out.push_str(&zsh_csd());
    out.push_str("case $service in\n");
    for t in TOOLS {
        out.push_str(&format!("  {}) _csd_bin_{} \"$@\" ;;\n", t.name, t.name.replace('-', "_")));
    }
    out.push_str("esac\n");
    out
}

/// `_arguments` specs for a command of this shape.
fn zsh_specs(s: &Shape) -> Vec<String> {
    let mut v = Vec::new();
    for o in &s.options {
        let help = o.help.replace('\'', "'\\''").replace('[', "(").replace(']', ")").replace(':', " -");
        let tail = match o.value.filter(|_| o.takes_value()) {
            Some(val) => format!(":{}:{}", val.to_lowercase(), zsh_action(o.complete)),
            None => String::new(),
        };
        match o.short {
            Some(c) => {
                v.push(format!("'(-{c} --{l})'{{-{c},--{l}}}'[{help}]{tail}'", l = o.long));
            }
            None => v.push(format!("'--{}[{help}]{tail}'", o.long)),
        }
    }
    for (i, c) in s.operands.iter().enumerate() {
        if s.repeats && i + 1 == s.operands.len() {
            v.push(format!("'*:arg:{}'", zsh_action(*c)));
        } else {
            v.push(format!("'{}:arg:{}'", i + 1, zsh_action(*c)));
        }
    }
    if !s.repeats {
        v.push("'*:: :'".into());
    }
    v
}

/// csd: [--worker NAME] SUBCOMMAND, then the subcommand's binary's arguments.
fn zsh_csd() -> String {
    let csd = super::tool("csd").expect("csd is declared");
    let mut out = String::from("_csd_bin_csd() {\n  local -a top per\n");
    let desc = |per_worker: bool| -> String {
        csd.subcommands
            .iter()
            .filter(|s| s.per_worker == per_worker)
            .map(|s| format!("'{}:{}'", s.name, s.summary.replace('\'', "'\\''").replace(':', " -")))
            .collect::<Vec<_>>()
            .join(" ")
    };
    out.push_str(&format!(
        "  top=({} 'completions:print shell completions' 'help:list the subcommands and installed binaries')\n  per=({})\n",
        desc(false),
        desc(true)
    ));
    out.push_str(
        "  local i=2 worker=\n\
         \x20 while [[ ${words[i]} == --worker ]] && (( i + 1 < CURRENT )); do worker=${words[i+1]}; (( i += 2 )); done\n\
         \x20 if [[ ${words[CURRENT-1]} == --worker ]]; then _csd_workers; return; fi\n\
         \x20 if (( CURRENT == i )); then\n\
         \x20   if [[ -n $worker ]]; then _describe subcommand per; else _describe subcommand top; compadd -- --worker; fi\n\
         \x20   return\n\
         \x20 fi\n\
         \x20 local sub=${words[i]}\n\
         \x20 shift $(( i - 1 )) words; (( CURRENT -= i - 1 ))\n\
         \x20 case $sub in\n",
    );
    for s in csd.subcommands {
        let t = super::tool(s.bin).expect("a subcommand runs a declared binary");
        out.push_str(&format!(
            "    {}) _arguments -s {} ;;\n",
            s.name,
            zsh_specs(&shape(t, s.pre, s.per_worker)).join(" ")
        ));
    }
    out.push_str(&format!("    completions) _arguments '1:shell:({})' ;;\n  esac\n}}\n\n", SHELLS.join(" ")));
    out
}

fn fish_values(c: Complete) -> String {
    match c {
        Complete::Nothing => String::new(),
        Complete::Worker => " -a '(__csd_workers)'".into(),
        Complete::Harness => format!(" -a '{}'", harnesses()),
        Complete::EventType => format!(" -a '{}'", events()),
        Complete::Dir => " -a '(__fish_complete_directories)'".into(),
        Complete::Shell => format!(" -a '{}'", SHELLS.join(" ")),
    }
}

/// The subcommand of a `csd` command line in fish, past `--worker NAME`.
const FISH_HELPERS: &str = "function __csd_sub
    set -l words (commandline -opc)
    set -e words[1]
    while test (count $words) -ge 1; and string match -q -- '--worker*' $words[1]
        if test $words[1] = --worker
            set -e words[1]
        end
        set -e words[1]
    end
    test (count $words) -ge 1; and echo $words[1]
end
function __csd_needs_sub
    test -z \"$(__csd_sub)\"
end
function __csd_has_worker
    string match -q -- '--worker*' (commandline -opc)
end
function __csd_sub_is
    test \"$(__csd_sub)\" = $argv[1]
end
";

/// fish: `complete` lines; csd's subcommands found past `--worker NAME`.
fn fish() -> String {
    let mut out = String::from(
        "# fish completion for csd (generated from csd's interface declarations)\n\
         function __csd_workers\n\
         \x20   set -l d (set -q CSD_WORKER_DIR; and echo $CSD_WORKER_DIR; or echo /tmp/csd-workers)/bin\n\
         \x20   test -d $d; and for f in $d/*; test -e $f; and basename $f; end\n\
         end\n",
    );
    let opt_line = |cmd: &str, cond: &str, o: &Opt| {
        let mut l = format!("complete -c {cmd}{cond}");
        if let Some(c) = o.short {
            l.push_str(&format!(" -s {c}"));
        }
        l.push_str(&format!(" -l {}", o.long));
        if o.takes_value() {
            l.push_str(" -x");
            l.push_str(&fish_values(o.complete));
        }
        l.push_str(&format!(" -d '{}'\n", o.help.replace('\\', "\\\\").replace('\'', "\\'")));
        l
    };
    for t in TOOLS.iter().filter(|t| t.subcommands.is_empty()) {
        let s = shape(t, &[], false);
        for o in &s.options {
            out.push_str(&opt_line(t.name, "", o));
        }
        match s.operands.first() {
            Some(Complete::Dir) | None => {}
            Some(c) => out.push_str(&format!("complete -c {} -f{}\n", t.name, fish_values(*c))),
        }
        if s.operands.contains(&Complete::Dir) {
            out.push_str(&format!("complete -c {} -a '(__fish_complete_directories)'\n", t.name));
        }
    }
    let csd = super::tool("csd").expect("csd is declared");
    // `__fish_use_subcommand` would take the NAME after --worker for the
    // subcommand: these skip `--worker NAME` pairs.
    out.push_str(FISH_HELPERS);
    out.push_str("complete -c csd -f\n");
    out.push_str(
        "complete -c csd -n '__csd_needs_sub' -l worker -x -a '(__csd_workers)' -d 'the worker a per-worker \
         subcommand acts on'\n",
    );
    for s in csd.subcommands {
        let per = if s.per_worker { "; and __csd_has_worker" } else { "; and not __csd_has_worker" };
        out.push_str(&format!(
            "complete -c csd -n '__csd_needs_sub{per}' -a {} -d '{}'\n",
            s.name,
            s.summary.replace('\'', "\\'")
        ));
        let t = super::tool(s.bin).expect("a subcommand runs a declared binary");
        let shape = shape(t, s.pre, s.per_worker);
        let cond = format!(" -n '__csd_sub_is {}'", s.name);
        for o in &shape.options {
            out.push_str(&opt_line("csd", &cond, o));
        }
        if let Some(c) = shape.operands.first().filter(|c| **c != Complete::Nothing) {
            out.push_str(&format!("complete -c csd{cond}{}\n", fish_values(*c)));
        }
    }
    out.push_str("complete -c csd -n '__csd_needs_sub; and not __csd_has_worker' -a 'completions help'\n");
    out.push_str(&format!("complete -c csd -n '__csd_sub_is completions' -a '{}'\n", SHELLS.join(" ")));
    out
}
