//! Each binary's interface is declared once, in shared/interface/spec.rs;
//! these tests hold the rest of the repository to it: the lexopt parsers in
//! bins/ accept exactly the declared options (with or without a value, as
//! declared), `-h`/`--help` print what the declaration renders, the committed
//! man pages are what `make man` would write and render cleanly, the bash,
//! fish and zsh completions work in the real shells, and the README and the
//! skill name only options and subcommands that exist.

mod common;

use common::*;
use csd::interface::{tool, Opt, Tool, TOOLS};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What lexopt 0.3 prints for an option no match arm takes
/// (`arg.unexpected()` on `Long`/`Short`): "invalid option '--nope'".
const UNKNOWN_OPTION: &str = "invalid option";
/// lexopt's `arg.unexpected()` on a `Value`, and a value attached to a flag
/// (`--json=1`: "unexpected argument for option '--json': \"1\"").
const UNEXPECTED_ARGUMENT: &str = "unexpected argument";

/// Run `c` to its end, or kill it and fail after `secs` seconds: no test
/// here may hang on a binary that waits for something.
fn output_within(mut c: Command, secs: u64) -> Output {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let what = format!("{c:?}");
    let mut child = c.spawn().unwrap_or_else(|e| panic!("running {what}: {e}"));
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {secs}s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

fn run_bin(env: &TestEnv, name: &str, args: &[&str]) -> Output {
    let mut c = env.cmd(name);
    c.args(args);
    output_within(c, 30)
}

/// The binaries whose options are parsed by lexopt against their
/// declaration: not csd (`--worker` and a subcommand, by hand) and not
/// csd-hook (only `-h`/`--help`, and it never fails).
fn lexopt_tools() -> impl Iterator<Item = &'static Tool> {
    TOOLS.iter().copied().filter(|t| t.name != "csd" && t.name != "csd-hook")
}

/// Each way to spell `o` on a command line: `--long`, and `-c` if it has one.
fn spellings(o: &Opt) -> Vec<String> {
    let mut v = vec![format!("--{}", o.long)];
    v.extend(o.short.map(|c| format!("-{c}")));
    v
}

fn is_common(o: &Opt) -> bool {
    csd::interface::COMMON.iter().any(|c| c.long == o.long)
}

// 1. Every declared option is accepted by its binary.

#[test]
fn every_declared_option_is_accepted() {
    let env = TestEnv::new();
    let mut bad = Vec::new();
    let mut tried = 0;
    for t in lexopt_tools() {
        for o in t.all_options() {
            for s in spellings(o) {
                let with_value = format!("{s}=1");
                let mut args = vec![s.as_str()];
                if o.takes_value() {
                    args.push("1");
                } else if o.optional_value() {
                    args[0] = with_value.as_str();
                }
                let out = run_bin(&env, t.name, &args);
                tried += 1;
                let err = stderr(&out);
                if err.contains(UNKNOWN_OPTION) || err.contains(UNEXPECTED_ARGUMENT) {
                    bad.push(format!("{} {}: {}", t.name, args.join(" "), err.trim_end()));
                }
            }
        }
    }
    assert!(tried > 20, "only {tried} options tried: are the declarations there?");
    assert!(bad.is_empty(), "declared options the binaries refuse:\n{}", bad.join("\n"));
}

/// An option declared with a value is parsed with one (`--last` alone: the
/// value is missing), and one declared as a flag takes none (`--json=1`: an
/// unexpected value), so the declaration's `value` is what the parser does.
#[test]
fn declared_values_match_the_parsers() {
    let env = TestEnv::new();
    let mut bad = Vec::new();
    for t in lexopt_tools() {
        for o in t.all_options() {
            if o.optional_value() {
                // Alone or with `=VALUE`, both parse; a value is never missing.
                for args in [format!("--{}", o.long), format!("--{}=1", o.long)] {
                    let out = run_bin(&env, t.name, &[&args]);
                    let err = stderr(&out);
                    if err.contains("missing argument") || err.contains(UNEXPECTED_ARGUMENT) {
                        bad.push(format!("{} {args}: declared with an optional value: {}", t.name, err.trim_end()));
                    }
                }
            } else if let Some(value) = o.value {
                for s in spellings(o) {
                    let out = run_bin(&env, t.name, &[&s]);
                    let want = format!("missing argument for option '{s}'");
                    if !stderr(&out).contains(&want) || out.status.code() != Some(2) {
                        bad.push(format!(
                            "{} {s}: declared with a value {:?}, but alone it did not fail with \"{want}\" (status {:?}): {}",
                            t.name,
                            value,
                            out.status.code(),
                            stderr(&out).trim_end()
                        ));
                    }
                }
            } else if !is_common(o) {
                // --help=1 and --version=1 print and exit before lexopt sees
                // the value: only the tool's own flags are checked this way.
                let s = format!("--{}=1", o.long);
                let out = run_bin(&env, t.name, &[&s]);
                let want = format!("unexpected argument for option '--{}'", o.long);
                if !stderr(&out).contains(&want) || out.status.code() != Some(2) {
                    bad.push(format!(
                        "{} {s}: declared as a flag, but did not fail with \"{want}\" (status {:?}): {}",
                        t.name,
                        out.status.code(),
                        stderr(&out).trim_end()
                    ));
                }
            }
        }
    }
    assert!(bad.is_empty(), "declarations and parsers disagree on values:\n{}", bad.join("\n"));
}

// 2. Every option a parser accepts is declared.

/// The option names a binary's source spells out: lexopt's `Long("x")` and
/// `Short('c')`, and string literals that are a whole option (`"--x"`,
/// `"--x="`, `"-c"`), as csd and csd-hook match by hand.
fn options_in_source(src: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in src.match_indices("Long(\"") {
        let rest = &src[i + 6..];
        if let Some(end) = rest.find('"') {
            found.insert(format!("--{}", &rest[..end]));
        }
    }
    for (i, _) in src.match_indices("Short('") {
        let rest = &src[i + 7..];
        if let Some(c) = rest.chars().next() {
            found.insert(format!("-{c}"));
        }
    }
    // "--word" or "--word=" (a word of letters, digits and dashes), or "-c".
    let b = src.as_bytes();
    for (i, _) in src.match_indices("\"-") {
        let mut j = i + 2;
        let long = b.get(j) == Some(&b'-');
        if long {
            j += 1;
        }
        let start = j;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || (long && b[j] == b'-' && j > start)) {
            j += 1;
        }
        if j == start || !b[start].is_ascii_alphabetic() {
            continue;
        }
        let end_ok = b.get(j) == Some(&b'"') || (long && b.get(j) == Some(&b'='));
        if !end_ok || (!long && j - start != 1) {
            continue;
        }
        found.insert(src[i + 1..j].to_string());
    }
    found
}

fn declared_spellings(t: &Tool) -> BTreeSet<String> {
    t.all_options().flat_map(spellings).collect()
}

#[test]
fn every_parsed_option_is_declared() {
    let mut bad = Vec::new();
    let csd_decl = tool("csd").expect("csd is declared");
    // What csd hands its binaries (`adopt` is `csd-launch --adopt`): those
    // literals in csd.rs are the subcommands' options, not csd's own.
    let pres: BTreeSet<String> =
        csd_decl.subcommands.iter().flat_map(|s| s.pre.iter().map(|p| p.to_string())).collect();
    let mut seen_any = false;
    for t in TOOLS {
        let path = repo().join(format!("bins/{}.rs", t.name));
        let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let declared = declared_spellings(t);
        for o in options_in_source(&src) {
            seen_any = true;
            if !(declared.contains(&o) || t.name == "csd" && pres.contains(&o)) {
                bad.push(format!("{}: bins/{}.rs parses {o}, which its declaration lacks", t.name, t.name));
            }
        }
    }
    assert!(seen_any, "no option found in bins/*.rs: the scan is broken");
    assert!(bad.is_empty(), "undeclared options:\n{}", bad.join("\n"));
}

#[test]
fn options_in_source_finds_every_form() {
    let src = r#"Short('n') | Long("last") => x, a == "--worker" || a.strip_prefix("--worker=")
        "-h" | "--help" ; usage("--worker needs a NAME"); "--" ; "-" ; "-12""#;
    let got: Vec<String> = options_in_source(src).into_iter().collect();
    assert_eq!(got, ["--help", "--last", "--worker", "-h", "-n"]);
}

#[test]
fn an_unknown_option_is_a_usage_error_everywhere() {
    let env = TestEnv::new();
    for t in TOOLS.iter().filter(|t| t.name != "csd-hook") {
        let out = run_bin(&env, t.name, &["--definitely-not-an-option"]);
        assert_code(&out, 2);
        assert!(stdout(&out).is_empty(), "{}: {}", t.name, stdout(&out));
    }
    // csd reads --worker before the subcommand; after it, the binary refuses.
    let out = run_bin(&env, "csd", &["--worker", "w1", "status", "--definitely-not-an-option"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains(UNKNOWN_OPTION), "{}", stderr(&out));
}

// 3. -h and --help print what the declaration renders.

#[test]
fn help_is_the_declarations() {
    let env = TestEnv::new();
    for t in TOOLS {
        for (flag, want) in [("-h", t.short_help()), ("--help", t.long_help())] {
            let out = run_bin(&env, t.name, &[flag]);
            assert_code(&out, 0);
            assert_eq!(stdout(&out), want, "{} {flag} is not the declaration's help", t.name);
            assert!(stderr(&out).is_empty(), "{} {flag}: {}", t.name, stderr(&out));
        }
    }
}

#[test]
fn help_fits_a_terminal() {
    for t in TOOLS {
        for text in [t.short_help(), t.long_help()] {
            for l in text.lines() {
                assert!(l.chars().count() <= 80, "{}: a help line wider than 80 columns:\n{l}", t.name);
            }
        }
    }
}

// 4. The committed man pages are generated, and render without warnings.

#[test]
fn man_pages_are_generated_from_the_declarations() {
    let mut stale = Vec::new();
    for t in TOOLS {
        let path = repo().join(format!("man/{}.1", t.name));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != csd::interface::man::page(t) {
            stale.push(format!("man/{}.1", t.name));
        }
    }
    assert!(stale.is_empty(), "{} not what the declarations generate: run `make man`", stale.join(", "));
    // And no page is left over from a binary that is no longer declared.
    for e in std::fs::read_dir(repo().join("man")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(bin) = name.strip_suffix(".1") {
            assert!(tool(bin).is_some(), "man/{name} has no declaration");
        }
    }
}

#[test]
fn man_pages_render_without_warnings() {
    for t in TOOLS {
        let mut c = Command::new("groff");
        c.args(["-man", "-Tutf8", "-ww", "-z"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap_or_else(|e| panic!("groff is needed (Debian package groff-base): {e}"));
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), csd::interface::man::page(t).as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "groff failed on {}: {}", t.name, stderr(&out));
        let said = format!("{}{}", stdout(&out), stderr(&out));
        assert!(said.is_empty(), "{}(1) renders with warnings:\n{said}", t.name);
    }
}

// 5 and 6. Completions, in the real shells.

/// A worker dir with shims for `alpha` and `beta` (all completion reads of
/// workers), and a directory of fake `tmux` and csd binaries that leave a
/// mark when run: pressing Tab must run neither.
struct CompletionWorld {
    env: TestEnv,
    fakes: PathBuf,
    mark: PathBuf,
}

const WORKERS: [&str; 2] = ["alpha", "beta"];

impl CompletionWorld {
    fn new() -> CompletionWorld {
        let env = TestEnv::new();
        let bin = env.worker_dir.join("bin");
        std::fs::create_dir(&bin).unwrap();
        for w in WORKERS {
            write_exec(&bin.join(w), "#!/bin/sh\nexit 0\n");
        }
        let fakes = env.path().join("fakes");
        std::fs::create_dir(&fakes).unwrap();
        let mark = env.path().join("spawned");
        for t in TOOLS.iter().map(|t| t.name).chain(["tmux"]) {
            write_exec(&fakes.join(t), &format!("#!/bin/sh\necho {t} >> '{}'\nexit 1\n", mark.display()));
        }
        CompletionWorld { env, fakes, mark }
    }

    /// `program` with this world's environment and the fakes first on PATH.
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        self.env.apply_env(&mut c);
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.fakes.clone()];
        dirs.extend(std::env::split_paths(&path));
        c.env("PATH", std::env::join_paths(dirs).unwrap());
        c
    }

    /// `csd completions SHELL`, from the real binary, in a file.
    fn script(&self, shell: &str) -> PathBuf {
        let out = run_bin(&self.env, "csd", &["completions", shell]);
        assert_code(&out, 0);
        assert!(!out.stdout.is_empty(), "csd completions {shell} printed nothing");
        let path = self.env.path().join(format!("completion.{shell}"));
        std::fs::write(&path, &out.stdout).unwrap();
        path
    }

    #[track_caller]
    fn assert_nothing_spawned(&self) {
        let ran = std::fs::read_to_string(&self.mark).unwrap_or_default();
        assert!(ran.is_empty(), "completion ran: {ran}");
    }
}

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

fn set(words: &[&str]) -> BTreeSet<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// Every harness the registry has: what `--harness` completes to.
fn harnesses() -> BTreeSet<String> {
    csd::harness::HarnessKind::all().map(|k| k.name().to_string()).collect()
}

fn event_types() -> BTreeSet<String> {
    csd::event::EventKind::names().split_whitespace().map(String::from).collect()
}

/// Sources the completion file ($1), checks the registrations, then completes
/// the command line $2.. (the last word is the one being completed) with the
/// function `complete -p` names, as bash's readline would: COMP_WORDS,
/// COMP_CWORD, COMP_LINE and COMP_POINT set, the function called with the
/// command, the current word and the previous one. Prints COMPREPLY a line
/// each. Nothing is interpolated into it: the words are its arguments.
const BASH_DRIVER: &str = r#"
source "$1" || { echo "sourcing the completions failed" >&2; exit 90; }
shift
complete -p csd-launch >/dev/null || { echo "no completion registered for csd-launch" >&2; exit 91; }
complete -p csd >/dev/null || { echo "no completion registered for csd" >&2; exit 92; }
spec=($(complete -p "$1"))
func=
for ((i = 0; i < ${#spec[@]}; i++)); do [[ ${spec[i]} == -F ]] && func=${spec[i+1]}; done
[[ -n $func ]] || { echo "no -F function in: ${spec[*]}" >&2; exit 93; }
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMP_TYPE=9
COMP_KEY=9
COMPREPLY=()
"$func" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;

fn bash_complete(w: &CompletionWorld, script: &Path, words: &[&str]) -> Vec<String> {
    let mut c = w.cmd("bash");
    c.args(["--norc", "--noprofile", "-c", BASH_DRIVER, "csd-bash-driver"]).arg(script).args(words);
    let out = output_within(c, 20);
    assert_code(&out, 0);
    assert!(stderr(&out).is_empty(), "completing {words:?} said: {}", stderr(&out));
    stdout(&out).lines().filter(|l| !l.is_empty()).map(String::from).collect()
}

#[test]
fn bash_completes_from_the_declarations() {
    let w = CompletionWorld::new();
    let script = w.script("bash");
    let got = |words: &[&str]| -> BTreeSet<String> { bash_complete(&w, &script, words).into_iter().collect() };

    // Every binary is registered, with a function.
    for t in TOOLS {
        let words = [t.name, "--hel"];
        assert_eq!(got(&words), set(&["--help"]), "{words:?}");
    }
    assert_eq!(got(&["csd-launch", "--har"]), set(&["--harness"]));
    assert_eq!(got(&["csd-launch", "--harness", ""]), harnesses());
    assert_eq!(got(&["csd-events", "w1", "--type", "s"]), set(&["session_start", "stop", "session_end"]));
    assert_eq!(got(&["csd-events", "w1", "-t", ""]), event_types());
    assert_eq!(got(&["csd-stop", ""]), set(&WORKERS));
    assert_eq!(got(&["csd-wait", "al"]), set(&["alpha"]));
    // csd-wait's second operand is a timeout: no worker names there.
    assert_eq!(got(&["csd-wait", "alpha", ""]), set(&[]));

    let csd_decl = tool("csd").unwrap();
    let top = got(&["csd", ""]);
    for s in ["launch", "list", "prune", "completions", "help"] {
        assert!(top.contains(s), "csd <TAB> lacks {s}: {top:?}");
    }
    for s in csd_decl.subcommands {
        assert_eq!(
            top.contains(s.name),
            !s.per_worker,
            "csd <TAB> and {} (per-worker: {}): {top:?}",
            s.name,
            s.per_worker
        );
    }
    let per = got(&["csd", "--worker", "w1", ""]);
    for s in ["converse", "read-turn", "stop"] {
        assert!(per.contains(s), "csd --worker w1 <TAB> lacks {s}: {per:?}");
    }
    assert!(!per.contains("launch"), "csd --worker w1 <TAB> offers launch: {per:?}");
    for s in csd_decl.subcommands {
        assert_eq!(per.contains(s.name), s.per_worker, "csd --worker w1 <TAB> and {}: {per:?}", s.name);
    }
    assert_eq!(got(&["csd", "--worker", ""]), set(&WORKERS));
    assert_eq!(got(&["csd", "--worker", "w1", "read-events", "--type", ""]), event_types());
    // read-events is csd-events with no `pre`: all of its options.
    let events_opts: BTreeSet<String> =
        tool("csd-events").unwrap().all_options().map(|o| format!("--{}", o.long)).collect();
    assert_eq!(got(&["csd", "--worker", "w1", "read-events", "--"]), events_opts);
    assert_eq!(got(&["csd", "completions", ""]), set(&["bash", "zsh", "fish"]));
    assert_eq!(got(&["csd", "launch", "--harness", "c"]), set(&["claude", "codex", "copilot"]));
    // The fleet waits take any number of workers.
    assert_eq!(got(&["csd", "wait-all", "alpha", ""]), set(&WORKERS));
    assert_eq!(got(&["csd", "wait-any", ""]), set(&WORKERS));
    // A subcommand's `pre` is not offered again (`list` is `csd-status --list`).
    assert!(!got(&["csd", "list", "--"]).contains("--list"));
    w.assert_nothing_spawned();
}

/// With no tmux and no csd binary on PATH at all (bash's builtins only),
/// completion still works.
#[test]
fn bash_completion_needs_no_tmux() {
    let w = CompletionWorld::new();
    let script = w.script("bash");
    let bash = ["/bin/bash", "/usr/bin/bash"].into_iter().find(|p| Path::new(p).exists()).expect("bash");
    let empty = w.env.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let mut c = w.cmd(bash);
    c.env("PATH", &empty);
    c.args(["--norc", "--noprofile", "-c", BASH_DRIVER, "csd-bash-driver"]).arg(&script).args(["csd-stop", ""]);
    let out = output_within(c, 20);
    assert_code(&out, 0);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    let got: BTreeSet<String> = stdout(&out).lines().map(String::from).collect();
    assert_eq!(got, set(&WORKERS));
}

/// `program` must be installed: CI installs it (.ci/run); a developer's
/// machine without it fails here, naming the package, rather than skipping.
fn require(program: &str, package: &str) {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file())).unwrap_or(false);
    assert!(
        found,
        "{program} is not installed: install the Debian package '{package}' (.ci/run does) to run this test"
    );
}

/// `complete -C LINE` in fish, after sourcing the completions ($argv[1]).
fn fish_complete(w: &CompletionWorld, script: &Path, line: &str) -> Vec<String> {
    let mut c = w.cmd("fish");
    c.args(["--no-config", "-c", "source $argv[1]; or exit 90; complete -C $argv[2]"]).arg(script).arg(line);
    let out = output_within(c, 20);
    assert_code(&out, 0);
    assert!(stderr(&out).is_empty(), "fish completing {line:?} said: {}", stderr(&out));
    stdout(&out).lines().map(|l| l.split('\t').next().unwrap_or("").to_string()).filter(|l| !l.is_empty()).collect()
}

#[test]
fn fish_completes_from_the_declarations() {
    require("fish", "fish");
    let w = CompletionWorld::new();
    let script = w.script("fish");
    let got = |line: &str| -> BTreeSet<String> { fish_complete(&w, &script, line).into_iter().collect() };

    assert_eq!(got("csd-launch --har"), set(&["--harness"]));
    completes_the_common_lines(got);
    w.assert_nothing_spawned();
}

/// What zsh and fish must both complete, given a command line.
fn completes_the_common_lines(mut got: impl FnMut(&str) -> BTreeSet<String>) {
    assert_eq!(got("csd-launch --harness "), harnesses());
    assert_eq!(got("csd-stop "), set(&WORKERS));
    assert_eq!(got("csd --worker "), set(&WORKERS));
    assert_eq!(got("csd-events w1 --type "), event_types());
    let top = got("csd ");
    for s in ["launch", "list", "prune"] {
        assert!(top.contains(s), "csd <TAB> lacks {s}: {top:?}");
    }
    assert!(!top.contains("converse"), "csd <TAB> (no worker) offers converse: {top:?}");
    let per = got("csd --worker w1 ");
    for s in ["converse", "read-turn", "stop"] {
        assert!(per.contains(s), "csd --worker w1 <TAB> lacks {s}: {per:?}");
    }
    assert!(!per.contains("launch"), "csd --worker w1 <TAB> offers launch: {per:?}");
    assert_eq!(got("csd --worker w1 read-events --type "), event_types());
    assert_eq!(got("csd completions "), set(&["bash", "zsh", "fish"]));
}

#[test]
fn zsh_completion_parses_and_defines_its_functions() {
    require("zsh", "zsh");
    let w = CompletionWorld::new();
    let script = w.script("zsh");
    let out = output_within(
        {
            let mut c = w.cmd("zsh");
            c.arg("-n").arg(&script);
            c
        },
        20,
    );
    assert_code(&out, 0);
    assert!(stderr(&out).is_empty(), "zsh -n: {}", stderr(&out));
    let first = std::fs::read_to_string(&script).unwrap().lines().next().unwrap_or("").to_string();
    let mut compdef: Vec<&str> = first.split_whitespace().collect();
    assert_eq!(compdef.first(), Some(&"#compdef"), "the zsh completion must start with #compdef: {first}");
    compdef.remove(0);
    let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
    assert_eq!(compdef.iter().copied().collect::<BTreeSet<_>>(), names.iter().copied().collect::<BTreeSet<_>>());

    let mut c = w.cmd("zsh");
    c.args([
        "-fc",
        "autoload -Uz compinit; compinit -u -D; source $1 || exit 90; for f in $@[2,-1]; do whence -w $f || exit 91; done",
        "csd-zsh-driver",
    ])
    .arg(&script)
    .args(TOOLS.iter().map(|t| format!("_csd_bin_{}", t.name.replace('-', "_"))));
    let out = output_within(c, 20);
    assert_code(&out, 0);
    for t in TOOLS {
        let f = format!("_csd_bin_{}: function", t.name.replace('-', "_"));
        assert!(stdout(&out).contains(&f), "zsh lacks {f}: {}", stdout(&out));
    }
}

/// The interactive zsh that completes: the completions on fpath as `_csd`
/// (so `#compdef` registers them, as an installed file would be), compinit,
/// and `compadd` wrapped so that every match zsh would offer is appended to
/// $CSD_CAPTURE, then a `<done>` line when completion ends.
const ZSHRC: &str = r#"
fpath=("$CSD_ZSH_FPATH" $fpath)
autoload -Uz compinit
compinit -u -D
compadd() {
  # -O, -A, -D: a completer asking what would match, not adding: pass it on.
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
    builtin compadd "$@"
    return
  fi
  local -a __csd_m
  builtin compadd -O __csd_m "$@"
  (( $#__csd_m )) && print -rl -- "${__csd_m[@]}" >> "$CSD_CAPTURE"
  builtin compadd "$@"
}
_csd_capture_done() { print -r -- '<done>' >> "$CSD_CAPTURE" }
comppostfuncs=(_csd_capture_done)
PS1='READY> '
"#;

/// Types $1 and a Tab into an interactive zsh on a pseudo-terminal (zpty),
/// and waits for the completion to end (the `<done>` line).
const ZSH_DRIVER: &str = r#"
zmodload zsh/zpty || exit 97
zmodload zsh/zselect || exit 97
zpty z zsh -f -i
zpty -w z 'source $CSD_ZSHRC'
zpty -r z out '*READY> ' || exit 96
zpty -w -n z "$1"$'\t'
integer i
for (( i = 0; i < 400; i++ )); do
  [[ -f $CSD_CAPTURE && "$(<$CSD_CAPTURE)" == *'<done>'* ]] && break
  zselect -t 5
done
out=
zpty -rt z out
zpty -d z
[[ -f $CSD_CAPTURE && "$(<$CSD_CAPTURE)" == *'<done>'* ]] || { print -r -- "no completion ended; the terminal showed: $out" >&2; exit 95; }
"#;

fn zsh_complete(w: &CompletionWorld, fpath: &Path, line: &str, n: usize) -> BTreeSet<String> {
    let capture = w.env.path().join(format!("zsh-capture-{n}"));
    let rc = w.env.path().join("zshrc");
    std::fs::write(&rc, ZSHRC).unwrap();
    let mut c = w.cmd("zsh");
    c.env("CSD_ZSH_FPATH", fpath).env("CSD_CAPTURE", &capture).env("CSD_ZSHRC", &rc).env("TERM", "dumb");
    c.args(["-fc", ZSH_DRIVER, "csd-zsh-driver", line]);
    let out = output_within(c, 30);
    assert_code(&out, 0);
    let got = std::fs::read_to_string(&capture).unwrap_or_default();
    got.lines().filter(|l| *l != "<done>" && !l.is_empty()).map(String::from).collect()
}

/// Real zsh completion, driven through a pseudo-terminal (zsh/zpty).
#[test]
fn zsh_completes_from_the_declarations() {
    require("zsh", "zsh");
    let w = CompletionWorld::new();
    let script = w.script("zsh");
    let fpath = w.env.path().join("zsh-functions");
    std::fs::create_dir(&fpath).unwrap();
    std::fs::copy(&script, fpath.join("_csd")).unwrap();
    let mut n = 0;
    let mut got = |line: &str| {
        n += 1;
        zsh_complete(&w, &fpath, line, n)
    };

    completes_the_common_lines(&mut got);
    w.assert_nothing_spawned();
}

#[test]
fn completions_of_an_unknown_shell_are_a_usage_error() {
    let env = TestEnv::new();
    let out = run_bin(&env, "csd", &["completions", "tcsh"]);
    assert_code(&out, 2);
    assert!(stdout(&out).is_empty());
}

// 7. The README and the skill name only what is declared.

/// Options of other programs the documents mention, by name.
const OTHER_PROGRAMS_OPTIONS: &[&str] = &[
    // Claude Code's: `adopt` resumes with `--resume`; hooks are wired through
    // `--plugin-dir`; csd assigns the id with `--session-id`.
    "--resume",
    "--plugin-dir",
    "--session-id",
    // git's, in the fan-out on one repository: `git apply --stat` reads a
    // worker's diff, `git merge --no-edit` takes its branch.
    "--stat",
    "--no-edit",
    // cargo's (`cargo install --path . --locked`) and the release archive's
    // installer's (`./install.sh --prefix ~/.local`).
    "--locked",
    "--prefix",
    // cargo's, for the e2e test tier (`cargo test --features e2e`).
    "--features",
    // Pi's: `adopt --harness pi` resumes with `pi --session`.
    "--session",
    // grep's, in `csd-events W --follow | grep --line-buffered pre_tool_use`.
    "--line-buffered",
];

/// Every `--word` in `text` (not one inside a longer word: `a--b`).
fn long_options_in(text: &str) -> BTreeSet<String> {
    let b = text.as_bytes();
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("--") {
        if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'-') {
            continue;
        }
        let mut j = i + 2;
        if j >= b.len() || !b[j].is_ascii_lowercase() {
            continue;
        }
        while j < b.len() && (b[j].is_ascii_lowercase() || b[j].is_ascii_digit() || b[j] == b'-') {
            j += 1;
        }
        found.insert(text[i..j].trim_end_matches('-').to_string());
    }
    found
}

const DOCS: [&str; 2] = ["README.md", "plugin/skills/driving-claude-code-sessions/SKILL.md"];

#[test]
fn documents_name_only_declared_options() {
    let declared: BTreeSet<String> =
        TOOLS.iter().flat_map(|t| t.all_options().map(|o| format!("--{}", o.long))).collect();
    let mut bad = Vec::new();
    let mut seen = 0;
    for doc in DOCS {
        let text = std::fs::read_to_string(repo().join(doc)).unwrap();
        for o in long_options_in(&text) {
            seen += 1;
            // csd's `--worker` is parsed by hand, but declared all the same.
            if !declared.contains(&o) && !OTHER_PROGRAMS_OPTIONS.contains(&o.as_str()) {
                bad.push(format!("{doc}: {o}"));
            }
        }
    }
    assert!(seen > 10, "only {seen} options found in the documents: the scan is broken");
    assert!(bad.is_empty(), "options no declaration has:\n{}", bad.join("\n"));
}

#[test]
fn long_options_in_finds_options_only() {
    let got: Vec<String> =
        long_options_in("`--last N`, a--b, -- args, --x-y=1, ---, --Upper, (--json)").into_iter().collect();
    assert_eq!(got, ["--json", "--last", "--x-y"]);
}

/// The v4 words in the README's binaries table (its last column).
fn readme_table_subcommands(readme: &str) -> Vec<String> {
    let start = readme.find("## The binaries").expect("README has a '## The binaries' section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map(|i| i + 3).unwrap_or(section.len())];
    let mut words = Vec::new();
    let mut rows = 0;
    for line in section.lines().filter(|l| l.starts_with('|')) {
        // `\|` is a bar inside a cell (`claude\|codex\|pi`).
        let row = line.replace("\\|", "/");
        let Some(last) = row.split('|').map(str::trim).rfind(|c| !c.is_empty()) else { continue };
        if last.starts_with("---") || last.starts_with("v4 words") {
            continue;
        }
        rows += 1;
        for (i, w) in last.split('`').enumerate() {
            if i % 2 == 1 && !w.starts_with('-') {
                words.push(w.to_string());
            }
        }
    }
    assert!(rows >= 8, "only {rows} rows in the README's binaries table: the scan is broken");
    words
}

#[test]
fn readme_subcommands_exist() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let csd_decl = tool("csd").unwrap();
    let words = readme_table_subcommands(&readme);
    assert!(words.len() >= 10, "{words:?}");
    for w in &words {
        assert!(
            csd_decl.subcommands.iter().any(|s| s.name == w),
            "the README's table names `{w}`, which csd does not declare"
        );
    }
    // And the other way: every declared subcommand is in the table.
    for s in csd_decl.subcommands {
        assert!(words.iter().any(|w| w == s.name), "csd's subcommand {} is missing from the README's table", s.name);
    }
}

// 8. csd help.

#[test]
fn csd_help_lists_subcommands_and_binaries() {
    let env = TestEnv::new();
    let out = run_bin(&env, "csd", &["help"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    let csd_decl = tool("csd").unwrap();
    for s in csd_decl.subcommands {
        assert!(
            text.lines().any(|l| l.split_whitespace().any(|w| w == s.name)),
            "csd help does not list the subcommand {}:\n{text}",
            s.name
        );
    }
    for t in TOOLS {
        for u in t.usage {
            let synopsis = format!("{} {u}", t.name);
            assert!(
                text.contains(synopsis.trim_end()),
                "csd help lacks {}'s synopsis `{}`:\n{text}",
                t.name,
                synopsis.trim_end()
            );
        }
    }
}
