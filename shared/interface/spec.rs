//! The declarations: one [`Tool`] per binary, the one place its interface is
//! written. Help, man pages and completions are generated from these; the
//! parsers in `bins/` must accept exactly the options declared here
//! (tests/interface.rs).

use super::{Complete, Example, Exit, Operand, Opt, Sub, Tool, Var};

pub const TOOLS: &[&Tool] = &[
    &CSD,
    &CSD_LAUNCH,
    &CSD_SEND,
    &CSD_WAIT,
    &CSD_EVENTS,
    &CSD_TURN,
    &CSD_STATUS,
    &CSD_STOP,
    &CSD_HOOK,
    &CSD_DOCTOR,
    &CSD_MCP,
];

/// The declaration of binary `name`.
pub fn tool(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().copied().find(|t| t.name == name)
}

const fn flag(short: Option<char>, long: &'static str, help: &'static str, more: &'static str) -> Opt {
    Opt { short, long, value: None, complete: Complete::Nothing, help, more }
}

/// An option whose value is optional and given only after `=`
/// (`--worktree[=BRANCH]`): `value` is written `[=NAME]`.
const fn optional_value(long: &'static str, value: &'static str, help: &'static str, more: &'static str) -> Opt {
    Opt { short: None, long, value: Some(value), complete: Complete::Nothing, help, more }
}

const fn valued(
    short: Option<char>,
    long: &'static str,
    value: &'static str,
    complete: Complete,
    help: &'static str,
    more: &'static str,
) -> Opt {
    Opt { short, long, value: Some(value), complete, help, more }
}

const WORKER: Operand = Operand {
    name: "WORKER",
    complete: Complete::Worker,
    help: "the worker's name, or sid:ID for the worker whose session id is ID (a bare session id is taken only \
           when no worker has that name)",
};

const ENV_WORKER_DIR: Var = Var {
    name: "CSD_WORKER_DIR",
    help: "where workers' state is kept (default /tmp/csd-workers); a relative path is taken from the current \
           directory, and a path with .. is refused (status 2). A worker's shim names its own and overrides this",
};
const ENV_TMUX_SOCKET: Var = Var {
    name: "CSD_TMUX_SOCKET",
    help: "the tmux server of workers whose meta does not name one: a -L label (under $TMUX_TMPDIR or /tmp) or a \
           socket path",
};

const ENV_TMUX_TIMEOUT: Var = Var {
    name: "CSD_TMUX_TIMEOUT_MS",
    help: "how long one tmux call may take before its server counts as hung, an error naming it (default 5000; \
           never longer than the command's own TIMEOUT)",
};

const ENV_REMOTE_PATH: Var = Var {
    name: "CSD_REMOTE_PATH",
    help: "on a remote worker's host, the directory holding the csd binaries, when they are not on its PATH",
};
const ENV_SSH_CONNECT: Var =
    Var { name: "CSD_SSH_CONNECT_TIMEOUT", help: "seconds to connect to a remote worker's host (default 10)" };
const ENV_SSH_PERSIST: Var =
    Var { name: "CSD_SSH_PERSIST", help: "seconds an idle ssh master connection to a host stays (default 300)" };

/// Stands for every harness's own variables (`Harness::variables`).
const HARNESS_VARS: Var = Var { name: super::HARNESS_VARS, help: "" };

const EXIT_OK: Exit = Exit { code: "0", help: "success" };
const EXIT_FAILED: Exit =
    Exit { code: "1", help: "failure (tmux that could not be asked included: that is never taken for a gone worker)" };
const EXIT_USAGE: Exit = Exit { code: "2", help: "usage error or bad input; nothing was changed" };
const EXIT_NO_WORKER: Exit = Exit { code: "3", help: "no such worker" };
const EXIT_GONE: Exit = Exit { code: "4", help: "the worker's tmux session is gone" };
const EXIT_TIMEOUT: Exit = Exit { code: "124", help: "timed out" };
const EXIT_TURN_FAILED: Exit = Exit {
    code: "5",
    help: "the turn failed: the model API or the CLI reported an error (a rate or usage limit, an overload, a \
           rejected key, a server error); why, and when to retry if it was said, on standard error",
};
const EXIT_TURN_BLOCKED: Exit = Exit {
    code: "6",
    help: "the worker is blocked: it waits on a person (a question it asked, a dialog); csd-send --answer picks \
           an option of a question",
};
const EXIT_TURN_INTERRUPTED: Exit =
    Exit { code: "7", help: "the turn was interrupted (Escape or Ctrl-C in the worker's pane)" };

pub const CSD_WAIT: Tool = Tool {
    name: "csd-wait",
    summary: "wait for a csd worker to end its turn",
    usage: &[
        "WORKER [TIMEOUT] [--after-line N]",
        "--any|--all WORKER... [--timeout SECS]",
        "--ready WORKER... [--timeout SECS]",
    ],
    description: "Block until WORKER logs its next stop or session_end event, then print that event as one JSON \
line. TIMEOUT is in seconds (default 60; fractions allowed).

By default only an event logged after csd-wait starts counts, so a turn that ended earlier does not satisfy a \
new wait. --after-line N counts the first turn end after line N of the log instead (lines are counted from 1, \
empty ones skipped): give it the receipt csd-send --receipt printed and it waits for the end of the turn that \
answers that prompt, even one queued behind a running turn, never the running turn's own end; or take a \
baseline before you send, and no turn end can slip between the send and the wait.

csd-wait wakes on the event itself (inotify), not on a polling interval. It also watches the worker's pane \
process and, as a backstop, its tmux session: when the worker dies it returns at once with status 4 instead of \
sleeping out the timeout. Only a session stamped as the worker's counts; tmux that cannot be asked is a failure \
(status 1), never taken for a dead worker. So is an event that could not be written to the log (a full disk): \
the turn's end may be the event that was lost, and csd-wait says so (status 1) rather than wait it out.

# How the turn ended

The stop line says how the turn ended, and the exit status follows it: 0 done; 5 failed (the line's \"reason\" \
is \"failed\" and its \"error\" gives the kind, such as rate_limit, overloaded, authentication_failed or \
server_error, the message, the HTTP status and, when the API or the CLI said, \"retry_at\"); 6 blocked (the \
worker waits on a person: \"blocked\" says on what, and a question's options); 7 interrupted (Escape or Ctrl-C in \
its pane); 4 crashed (its CLI exited mid-turn: csd writes that stop itself). Each returns as soon as the worker \
shows it, not at the timeout, and says why in one line on standard error. A blocked turn goes on once answered \
and ends with a stop of its own.

# Many workers

With --any or --all, csd-wait waits until the named workers have answered their latest prompts (not for a next \
turn end): a worker already idle counts at once, and a worker that dies counts too. It prints one line per \
worker as it finishes, flushed at once, NAME, a tab, and how: idle, failed, limited (failed on a rate or usage \
limit whose reset is still ahead), interrupted or blocked (then a tab and why, on the same line), terminated (its \
session ended) or gone (its tmux session is gone). --any exits after the first line, --all after the last. The \
status is 0 when every line said idle, else that of the first line that did not (4 gone or terminated, 5 failed \
or limited, 6 blocked, 7 interrupted), and 124 on timeout, with the names still working on standard error. One inotify watch of the worker dir and one pidfd per pane wake it for all of them: no polling.

# Remote workers

For a remote worker (csd-launch --host), csd-wait runs on its host, over ssh, and wakes there; its line and \
exit status come back unchanged. A fleet wait over workers on several hosts runs one wait per host (and one \
here), all at once, and prints each line as it comes; a host that cannot be reached prints NAME<TAB>unreachable \
for its workers and makes the status 1.

# Limits

A worker whose last turn failed on a rate or usage limit with a known reset time is limited (csd-status). \
--ready waits until none of the WORKERs is: it sleeps until the latest reset time has passed, without waking \
in between, so a fleet of limited workers costs nothing while it waits, then prints NAME, a tab and the status \
of each. When a reset comes after the timeout it exits 124 at once, saying when.",
    options: &[
        valued(
            None,
            "after-line",
            "N",
            Complete::Nothing,
            "wait for the first turn end after line N of the event log",
            "N: a receipt from csd-send --receipt, or a line count taken before the send",
        ),
        flag(None, "any", "wait until any one of the WORKERs has answered", ""),
        flag(None, "all", "wait until all the WORKERs have answered", ""),
        flag(
            None,
            "ready",
            "wait until no WORKER is limited (its rate or usage limit has reset)",
            "sleeps until the latest reset time; exits 124 at once if that is after the timeout",
        ),
        valued(
            Some('t'),
            "timeout",
            "SECS",
            Complete::Nothing,
            "seconds to wait (default 60)",
            "the same as TIMEOUT for one worker",
        ),
    ],
    operands: &[WORKER, Operand { name: "TIMEOUT", complete: Complete::Nothing, help: "seconds to wait (default 60)" }],
    env: &[ENV_WORKER_DIR, ENV_TMUX_SOCKET, ENV_TMUX_TIMEOUT],
    exits: &[
        Exit {
            code: "0",
            help: "the turn ended; the event is on standard output (--any, --all: every line said idle)",
        },
        EXIT_FAILED,
        Exit { code: "2", help: "usage error: an invalid name, or a timeout that is not a positive number" },
        EXIT_NO_WORKER,
        Exit {
            code: "4",
            help: "the worker's tmux session is gone, or its CLI crashed mid-turn (--any, --all: a line said gone or \
                   terminated)",
        },
        EXIT_TURN_FAILED,
        EXIT_TURN_BLOCKED,
        EXIT_TURN_INTERRUPTED,
        Exit {
            code: "124",
            help: "the timeout passed first (--any, --all: the names still working on stderr; --ready: a reset \
                   after the timeout)",
        },
    ],
    examples: &[
        Example { command: "csd-send w1 \"fix the failing test\" && csd-wait w1 600 && csd-turn w1", help: "" },
        Example {
            command: "n=$(csd-send --receipt w1 \"then run the tests\")\ncsd-wait w1 600 --after-line \"$n\"",
            help: "the end of that prompt's turn, even when it was queued behind a running one",
        },
        Example {
            command:
                "n=$(wc -l < \"$(csd-events --path w1)\")\ncsd-send w1 \"go on\"; csd-wait w1 300 --after-line \"$n\"",
            help: "a baseline taken before the send: no turn end slips between the send and the wait",
        },
        Example {
            command: "for w in a b c; do csd-send \"$w\" \"review $w.rs\"; done\ncsd-wait --all a b c -t 900",
            help: "fan out, then wait for all three: a line per worker, in the order they finish",
        },
    ],
    subcommands: &[],
};

pub const CSD: Tool = Tool {
    name: "csd",
    summary: "drive coding-agent sessions (one controller, many workers) in tmux",
    usage: &["SUBCOMMAND [ARGS...]", "--worker NAME SUBCOMMAND [ARGS...]", "completions bash|zsh|fish"],
    description: "csd lets one coding-agent session, the controller, delegate work to other coding-agent sessions, \
the workers. Each worker is a {HARNESS_TITLES} process in its own tmux session. Its harness reports every \
lifecycle event through csd-hook(1) (or the Pi extension) into an event log, which the other commands read.

csd is a dispatcher: each subcommand runs one of the small csd-* binaries installed beside it, and their exit \
status is its own. Each of those binaries works on its own in scripts and pipes, taking the worker as its first \
argument. csd launch prints the path of a per-worker shim, a script that runs csd --worker NAME with its \
arguments. A second --worker (say, after a shim's) is a usage error: csd never guesses which was meant.

# Identity

csd stamps every tmux session it creates with the worker's id (the tmux user option @csd_id, set by the same \
tmux command that creates the session) and records that id (csd_id) and the tmux server's socket, as a full path \
(tmux_socket), in the worker's meta. Every later command reaches the server with tmux -S PATH, so a shell with \
another TMUX_TMPDIR still finds the worker, and counts a session as the worker's only when its stamp matches. A \
worker launched by csd v4 or an older csd has no csd_id and owns only an unstamped session of its name whose \
pane (its process, or one below it) names the worker's session id on its command line, as v4's claude \
--session-id ID does: a stale meta never takes somebody's own session of that name.

A WORKER argument is a name. sid:ID names the worker whose session id is ID, and never a name (a name holds no \
colon); a bare session id is still taken, as v4 took it, but only when no worker has that name, and csd-launch \
refuses a name that is any worker's session id (status 2). A shim pins its worker dir (CSD_WORKER_DIR in the \
script): it drives the worker it was made for, whatever the calling shell's CSD_WORKER_DIR says.

When tmux cannot be asked (it is not installed, or its socket cannot be used), that is an error, never \"gone\": \
nothing is removed or killed. csd needs tmux 3.2 or newer.

# Completions

csd completions bash|zsh|fish prints a completion script for every csd binary: subcommands, options, harness \
names, event types, and worker names, read from the shims in the worker dir (no tmux is run). make install puts \
them where each shell looks.",
    options: &[valued(
        None,
        "worker",
        "NAME",
        Complete::Worker,
        "the worker a per-worker subcommand acts on",
        "a shim supplies it; given twice, it is a usage error",
    )],
    operands: &[],
    env: &[ENV_WORKER_DIR, ENV_TMUX_SOCKET, ENV_TMUX_TIMEOUT],
    exits: &[
        EXIT_OK,
        EXIT_FAILED,
        EXIT_USAGE,
        EXIT_NO_WORKER,
        EXIT_GONE,
        EXIT_TIMEOUT,
        Exit { code: "128+N", help: "killed by signal N (launch and send first undo what they started)" },
    ],
    examples: &[
        Example { command: "w=$(csd launch w1 ~/src/project)", help: "start a worker; its shim's path goes in $w" },
        Example { command: "$w converse \"run the tests and summarise failures\" 600", help: "" },
        Example { command: "$w read-events --follow | grep --line-buffered pre_tool_use", help: "" },
        Example { command: "$w stop", help: "" },
        Example { command: "csd completions bash > ~/.local/share/bash-completion/completions/csd", help: "" },
    ],
    subcommands: &[
        Sub {
            name: "launch",
            bin: "csd-launch",
            pre: &[],
            per_worker: false,
            usage: "[--host DEST] [--harness H] [--worktree[=B] ...] NAME CWD [-- ARGS...]",
            summary: "start a worker (on DEST over ssh; in its own git worktree); its shim's path on stdout",
        },
        Sub {
            name: "adopt",
            bin: "csd-launch",
            pre: &["--adopt"],
            per_worker: false,
            usage: "[--host DEST] [--harness H] [--worktree[=B]] NAME CWD SID [-- ARGS...]",
            summary: "take back a {HARNESS_TITLES} session after a reboot",
        },
        Sub {
            name: "list",
            bin: "csd-status",
            pre: &["--list"],
            per_worker: false,
            usage: "[--all] [--json] [PATTERN]",
            summary: "the workers, as a table",
        },
        Sub {
            name: "wait-all",
            bin: "csd-wait",
            pre: &["--all"],
            per_worker: false,
            usage: "WORKER... [--timeout SECS]",
            summary: "wait until all the workers have answered; a line each as they finish",
        },
        Sub {
            name: "wait-any",
            bin: "csd-wait",
            pre: &["--any"],
            per_worker: false,
            usage: "WORKER... [--timeout SECS]",
            summary: "wait until any one of the workers has answered",
        },
        Sub {
            name: "wait-ready",
            bin: "csd-wait",
            pre: &["--ready"],
            per_worker: false,
            usage: "WORKER... [--timeout SECS]",
            summary: "sleep until no worker is limited (its rate or usage limit has reset)",
        },
        Sub {
            name: "events",
            bin: "csd-events",
            pre: &["--all"],
            per_worker: false,
            usage: "[--last N] [--type TYPE] [--follow]",
            summary: "every worker's events, merged, each naming its worker",
        },
        Sub {
            name: "prune",
            bin: "csd-stop",
            pre: &["--prune"],
            per_worker: false,
            usage: "",
            summary: "remove the state of workers proven gone, and stray shims; their worktrees as stop does",
        },
        Sub {
            name: "grant-consent",
            bin: "csd-launch",
            pre: &["--grant-consent"],
            per_worker: false,
            usage: "",
            summary: "one-time consent to run workers with their permission prompts bypassed",
        },
        Sub {
            name: "converse",
            bin: "csd-send",
            pre: &["--converse"],
            per_worker: true,
            usage: "[--with-turn] PROMPT [TIMEOUT]",
            summary: "send a prompt, wait for the turn, print the reply",
        },
        Sub {
            name: "send",
            bin: "csd-send",
            pre: &[],
            per_worker: true,
            usage: "PROMPT | --receipt PROMPT [TIMEOUT]",
            summary: "send a prompt (- reads it from standard input); --receipt prints its receipt",
        },
        Sub {
            name: "answer",
            bin: "csd-send",
            pre: &["--answer"],
            per_worker: true,
            usage: "N...",
            summary: "pick option N of the question the worker waits on (one N per question)",
        },
        Sub {
            name: "wait-for-turn",
            bin: "csd-wait",
            pre: &[],
            per_worker: true,
            usage: "[TIMEOUT] [--after-line N]",
            summary: "wait for the next stop or session_end",
        },
        Sub {
            name: "status",
            bin: "csd-status",
            pre: &[],
            per_worker: true,
            usage: "[--json]",
            summary: "idle, working, blocked, limited, terminated, gone or unknown",
        },
        Sub {
            name: "session-id",
            bin: "csd-status",
            pre: &["--session-id"],
            per_worker: true,
            usage: "",
            summary: "the worker's session id",
        },
        Sub {
            name: "read-events",
            bin: "csd-events",
            pre: &[],
            per_worker: true,
            usage: "[--last N] [--type TYPE] [--follow]",
            summary: "the worker's events as JSON lines",
        },
        Sub {
            name: "events-file",
            bin: "csd-events",
            pre: &["--path"],
            per_worker: true,
            usage: "",
            summary: "the path of the worker's event log",
        },
        Sub {
            name: "read-turn",
            bin: "csd-turn",
            pre: &[],
            per_worker: true,
            usage: "[--full]",
            summary: "the last turn as markdown",
        },
        Sub {
            name: "stop",
            bin: "csd-stop",
            pre: &[],
            per_worker: true,
            usage: "[--discard]",
            summary: "quit the worker and remove its state; its worktree only if nothing in it would be lost",
        },
        Sub {
            name: "diff",
            bin: "csd-status",
            pre: &["--diff"],
            per_worker: true,
            usage: "",
            summary: "what the worker changed in its worktree since its base, as a patch for git apply",
        },
        Sub {
            name: "handoff",
            bin: "csd-stop",
            pre: &["--handoff"],
            per_worker: true,
            usage: "",
            summary: "how a human attaches to the worker",
        },
        Sub {
            name: "doctor",
            bin: "csd-doctor",
            pre: &[],
            per_worker: false,
            usage: "[--harness H]... [--json] [--keep]",
            summary: "prove each installed harness works with csd, offline (mock model)",
        },
    ],
};

pub const CSD_LAUNCH: Tool = Tool {
    name: "csd-launch",
    summary: "start a csd worker in tmux, or revive one by session id",
    usage: &[
        "[--harness H] NAME CWD [-- HARNESS-ARGS...]",
        "--adopt [--harness H] NAME CWD SID [-- ARGS...]",
        "--host DEST [--adopt] [--harness H] NAME CWD [SID] [-- ARGS]",
        "--worktree[=BRANCH] [--base REF] [--setup CMD] NAME CWD",
        "--grant-consent",
    ],
    description: "csd-launch starts a coding agent (the harness: {HARNESSES}) in a detached \
tmux session called NAME, working in CWD (symlinks resolved), and returns once the worker takes prompts. It prints \
the path of the worker's shim on standard output (a script that runs csd --worker NAME with its arguments) and a \
panel on standard error with the worker's session id, event log, the command that attaches to its pane and the \
command that reproduces the launch. Arguments after -- go to the harness unchanged, except those that pick the \
harness's session, which csd does itself: they are refused at once (status 2): {HARNESS_SESSION_ARGS}.

CSD_WORKER_DIR, CSD_TMUX_SOCKET (the socket's full path) and CSD_WORKER_ID (the worker's id) are pinned in \
the pane's environment so the hook writes where csd reads.

csd-launch checks first that tmux is there and is 3.2 or newer, and that the harness binary can be found \
(\"claude not found on PATH: install it, or set CSD_CLAUDE_BIN to its path\").

# Identity

The tmux session is stamped with the worker's id (the tmux user option @csd_id) by the same tmux command that \
creates it, so no other client ever sees it unstamped. The meta records the id as csd_id and the tmux server as \
tmux_socket, the socket's full path: a CSD_TMUX_SOCKET label is resolved once, as tmux resolves -L. Every later \
command uses tmux -S PATH and counts a session as the worker's only when its stamp matches.

# One name, one worker

A name is refused while a worker of that name runs (registered or not), and while a tmux session of that name is \
not csd's. A name that is any worker's session id is refused (status 2): a WORKER argument must never mean two \
workers (see csd(1), Identity). Names tmux maps to the same session (a.b and a_b) are one name. A worker of that name that is proven \
gone has its stale state replaced; one tmux could not be asked about is refused, never replaced. csd-launch holds \
a lock on the worker dir from checking the name until its session exists, so neither another launch nor a prune \
takes the half-made worker for a dead one.

# Failure and signals

If the worker does not come up, the error shows the last lines of its pane, the tmux session (only the one this \
launch stamped) is ended and everything csd wrote for the worker is removed: meta, event log, marker, home, shim. \
SIGINT, SIGTERM and SIGHUP do the same, and csd-launch then dies of the signal it got, so the shell sees status \
128+N.

# Harnesses

{HARNESS_NOTES}

# Adopt

--adopt resumes an existing session as worker NAME, with its history: {HARNESS_ADOPT}. These outlive a reboot that wipes /tmp, and the worker dir with it. A session \
a live worker runs is refused, under any name (status 1): adopting it would kill its harness mid-turn; stop that \
worker first. When the worker's own tmux session NAME is still there with its harness gone from the pane (kept by \
remain-on-exit), the pane is respawned in place; otherwise a new session is opened. \
The session's transcript must exist; adopt refuses otherwise, at once, naming where it looked. The session id is \
known, so the worker is registered at once (a Codex worker's log stays empty until its first prompt; it is idle).

# Consent

Workers run without permission prompts, so csd asks once for consent before it starts any: csd-launch \
--grant-consent prints the warning and records consent when you type yes. The consent file, \
~/.claude/.claude-session-driver-consent, is the one csd v4 uses.

# Running as root

Claude Code refuses --dangerously-skip-permissions as root unless IS_SANDBOX=1 is set. csd-launch passes \
IS_SANDBOX to the worker when it is set, and says so when the pane shows the refusal.

# Remote workers

--host DEST starts the worker on another machine, over OpenSSH: DEST is [user@]host, ssh://[user@]host[:port] \
or a Host alias of your ssh config. The host's own csd-launch starts it there, in CWD on that host (not resolved \
here), under the host user's worker dir and tmux; the host must have csd, tmux and the harness installed, and its \
consent given (csd grant-consent, run there). Here csd keeps only a record, NAME.remote in the worker dir (the \
host, the harness, CWD, and the id the host gave the worker, which the host checks on every call: a later \
worker that took the name there is never taken for this one), and the shim: every per-worker command of the shim and of csd --worker NAME then runs on \
the host, with its output and exit status passed through, and waits wake there (its csd-wait), never by polling \
over ssh. csd list asks each host once, in parallel, and shows a HOST column; a host that does not answer shows \
its workers as unreachable, never gone.

DEST is checked (no leading -, no whitespace, control or shell characters, at most 255 bytes) and always passed \
after --, so it can never become an ssh option. Auth is your own ssh config and agent (BatchMode: no password \
prompts); csd stores no secrets. One master connection per host (ControlMaster, ControlPersist for \
CSD_SSH_PERSIST seconds, 300 by default) is shared by every call, its control socket in $CSD_WORKER_DIR/ssh/ \
(0700), so a call costs one round trip, not a handshake. The command run on the host is always csd remote-call: \
which binary to run, its arguments and any prompt travel on its standard input, never on a command line, and \
when the connection goes, the host ends what it ran. csd must be on the PATH that non-interactive ssh commands \
get on the host, or CSD_REMOTE_PATH must name the directory holding its binaries there (it is recorded with the \
worker). A host whose csd is another version gets a warning; a host key or auth failure is ssh's message and \
status 1, with nothing changed here.

# Worktrees

--worktree starts the worker in a git worktree of its own, so workers on one repository never edit the same files, \
build in the same tree or stage into the same index. csd-launch runs git itself (git worktree add, never a copy): \
a new branch, csd/NAME unless --worktree=BRANCH names another, made from CWD's HEAD (or from --base REF), checked out at \
GIT_COMMON_DIR/csd/worktrees/NAME, inside the repository's own .git directory: outside the main checkout (its git \
status never shows it), kept as long as the repository is, and not in the worker dir, which a reboot may wipe. \
The worker starts at CWD's place in the new worktree (a subdirectory of the repository stays that subdirectory). \
The base it was made from is recorded: a branch (HEAD's, or --base naming one) is followed as it moves; anything \
else is the commit. NAME.worktree in the worker dir records the worktree (the repository, branch, base); it stays \
while the worktree does, so a kept worktree keeps its name taken and is listed until it is removed.

Before the harness starts, a setup step runs in the new worktree: --setup CMD (split at whitespace and run \
directly, no shell), else the repository's own .csd/setup when it is executable. It gets CSD_WORKTREE_SOURCE \
(the checkout the worktree was made from: copy .env or link node_modules from there), CSD_WORKTREE_BRANCH and \
CSD_WORKER_NAME; its last lines of output are in the panel. If it fails, the launch is undone: the worktree and \
its branch are removed, and the error shows its output. A launch that fails later, or is interrupted, removes \
them too.

Refused with nothing changed: CWD not in a git repository (or a bare one, or one with no commit yet), a BRANCH \
git does not take as a branch name, a --base that names no commit (status 2 for these); a branch that exists, a \
repository in the middle of a merge, rebase, cherry-pick, revert or bisect, a worktree of that name kept from an \
earlier worker (stop or discard it first) (status 1). Launches on one repository may run at the same time.

With --adopt, a worktree csd made for NAME in that repository earlier (its record lost with a wiped worker dir) \
is taken back as it is, with no setup; otherwise one is made as for a launch. A Claude Code or Pi session is \
found by its cwd, so adopt it with the cwd it had. With --host, the host's csd-launch makes the worktree on the \
host, from CWD there.

csd-status --json and csd list --json show the worktree; csd --worker NAME diff prints what the worker changed; \
csd-stop(1) removes the worktree and its branch only when nothing in them would be lost.",
    options: &[
        valued(None, "harness", "HARNESS", Complete::Harness, "{HARNESSES}", ""),
        flag(None, "adopt", "resume SID instead of starting a new session", ""),
        optional_value(
            "worktree",
            "[=BRANCH]",
            "start the worker in a new git worktree of CWD's repository, on BRANCH (default csd/NAME)",
            "see Worktrees. The branch is given after = only (--worktree=fix-login), so --worktree NAME CWD \
             still reads NAME as the worker's name",
        ),
        valued(
            None,
            "base",
            "REF",
            Complete::Nothing,
            "with --worktree: make the branch from REF, not CWD's HEAD",
            "",
        ),
        valued(
            None,
            "setup",
            "CMD",
            Complete::Nothing,
            "with --worktree: run CMD in the new worktree before the harness starts (default: .csd/setup)",
            "CMD is split at whitespace and run without a shell; a failure undoes the launch",
        ),
        flag(None, "grant-consent", "record the one-time consent", ""),
        valued(
            None,
            "host",
            "DEST",
            Complete::Nothing,
            "start the worker on DEST over ssh (see Remote workers)",
            "DEST: [user@]host, ssh://[user@]host[:port] or an ssh config Host alias",
        ),
    ],
    operands: &[
        Operand { name: "NAME", complete: Complete::Nothing, help: "the worker's name: letters, digits, _, - and ." },
        Operand { name: "CWD", complete: Complete::Dir, help: "the directory the worker works in" },
        Operand { name: "SID", complete: Complete::Nothing, help: "with --adopt: the id of the session to resume" },
    ],
    env: &[
        ENV_WORKER_DIR,
        Var {
            name: "CSD_TMUX_SOCKET",
            help: "the tmux server to start workers on: a label (under $TMUX_TMPDIR or /tmp, as tmux -L finds it) \
                   or a socket path; unset, the server of $TMUX or the default one",
        },
        ENV_TMUX_TIMEOUT,
        Var {
            name: "CSD_<HARNESS>_BIN",
            help: "a harness's binary, one variable per harness ({HARNESS_BINS}); default: found on PATH",
        },
        HARNESS_VARS,
        Var { name: "CSD_START_TIMEOUT_MS", help: "how long to wait for the worker to be ready (default 30000)" },
        Var {
            name: "CSD_TRUST_TIMEOUT_MS",
            help: "how long to watch closely for Claude Code's trust dialog (default 10000)",
        },
        Var { name: "IS_SANDBOX", help: "passed on to the worker (Claude Code as root needs IS_SANDBOX=1)" },
        ENV_REMOTE_PATH,
        ENV_SSH_CONNECT,
        ENV_SSH_PERSIST,
    ],
    exits: &[
        Exit { code: "0", help: "the worker is up; its shim's path is on standard output" },
        Exit {
            code: "1",
            help: "failure: no consent (the message names the file it looked for), the name is taken, the session \
                   to adopt runs as a live worker or has no transcript, tmux missing or older than 3.2, no harness \
                   binary, tmux could not be asked, or the worker did not start (its pane's last lines are in the \
                   message); with --worktree: the branch exists, an operation is in progress, the setup failed",
        },
        Exit {
            code: "2",
            help: "usage error or bad input: an unknown harness, a cwd that is not a directory (or, with --worktree, \
                   not in a git repository), a branch name git refuses, a --base naming no commit, an invalid name or \
                   session id, a name that is a worker's session id, a harness argument that picks the session, a \
                   worker dir with ..",
        },
        Exit { code: "124", help: "the worker was not ready within CSD_START_TIMEOUT_MS" },
        Exit { code: "128+N", help: "killed by signal N after removing what it had made" },
    ],
    examples: &[
        Example { command: "w=$(csd-launch w1 ~/src/project) && $w converse \"summarise the README\"", help: "" },
        Example { command: "csd-launch --harness codex reviewer . -- --model gpt-5.5", help: "" },
        Example {
            command: "csd-launch --worktree --base main fix-1 ~/src/project",
            help: "its own worktree, on branch csd/fix-1 from main",
        },
        Example {
            command: "csd-launch --adopt w1 ~/src/project 6f1c2a9e-0b7d-4c1e-9a53-2d8f1e4b7c10",
            help: "take a Claude Code session back after a reboot",
        },
        Example {
            command: "csd-launch --adopt --harness codex w2 . 019a5c1e-7f3b-7d21-a0c4-5e6f7a8b9c0d",
            help: "the same for a Codex session (its id is in its rollout's name under ~/.codex/sessions)",
        },
    ],
    subcommands: &[],
};

pub const CSD_SEND: Tool = Tool {
    name: "csd-send",
    summary: "give a csd worker a prompt, or hold a whole exchange",
    usage: &[
        "WORKER PROMPT",
        "--receipt WORKER PROMPT [TIMEOUT]",
        "--converse WORKER [--with-turn] PROMPT [TIMEOUT]",
        "--command WORKER COMMAND",
        "--answer WORKER N...",
    ],
    description: "csd-send puts PROMPT into the worker and returns once the worker has taken it. A PROMPT of - is \
read from standard input (one final newline dropped). A prompt that starts with - goes after --.

The prompt is pasted once, as a bracketed paste through a tmux buffer, so a prompt of any length arrives whole \
and nothing in it is read by a shell; bracketed-paste markers inside the prompt are removed first, so it cannot \
end the paste early. A prompt of nothing but white space and paste markers is empty: refused at once (status 2). Then Enter is pressed, and pressed again, soon at first and then every \
CSD_SUBMIT_RETRY_INTERVAL seconds (a harness that has just started may drop the first), until the worker's \
user_prompt_submit event confirms the prompt, for at most CSD_SUBMIT_TIMEOUT seconds. The prompt is never pasted \
twice.

A worker that is mid-turn holds a submitted prompt until its turn ends. When no confirmation comes while that \
turn is still going, csd-send says on standard error that the prompt is queued, and succeeds.

A prompt that is not confirmed is cleared from the worker's input before csd-send exits 1, and the error says so \
(or that the screen still shows text there, and how to clear it), so the next prompt is not appended to it.

# Text, never a command

A prompt is text for the model, whatever its first byte. Each harness has its own way in: Claude Code runs a \
prompt pasted with a leading ! in bash, takes a leading / as a slash command and exit, quit or :q alone as quit; \
Codex runs a leading ! as a shell command and a bare /command as its command; Pi runs both ! and / lines itself. \
csd-send gives each harness the prompt so that the model receives it as a user prompt: byte for byte where the \
harness allows (a ! prompt in Claude Code goes in behind a guard byte that is then deleted; Codex gets a leading \
space, which it trims; Pi gets a mark its csd extension takes off again), and otherwise with a zero-width space \
(U+200B) in front, said on standard error (Claude Code: a prompt starting with /, or only a quit word). To run one \
of the CLI's own commands, say so: --command WORKER '/compact' types COMMAND into the emptied input and presses \
Enter; the CLI confirms nothing, so csd-send returns once it is typed.

# One at a time

Sends to one worker are serialised: csd-send holds the worker's send lock (a lock on WORKER.send.lock in the \
worker directory, which the kernel releases if the sender is killed) from before the paste until its own prompt \
is confirmed: the user_prompt_submit that carries this prompt's digest, never another sender's. A send that \
cannot get the lock within CSD_SUBMIT_TIMEOUT exits 124 with nothing typed. csd-stop takes the same lock before \
it types the harness's quit command.

# Receipts

With --receipt, csd-send prints one line on standard output: the prompt's receipt, a line number N of the \
worker's event log (counting non-empty lines from 1, as csd-wait --after-line does) such that the first turn end \
after line N is the end of the turn that answers this prompt. So csd-wait WORKER --after-line N waits for exactly \
that turn, even when other prompts and turns come between. For a prompt the worker confirmed, N is the line of \
its user_prompt_submit. A queued prompt is waited for (at most TIMEOUT seconds from the start, default 120; \
CSD_SUBMIT_TIMEOUT bounds only the pressing of Enter) until the worker takes it: Claude Code gives it its own turn \
once the running one ends (its user_prompt_submit comes after that turn's stop; N is its line), or, when it was \
typed during a tool call, folds it into the running turn at the tool's result with no user_prompt_submit of its \
own (csd sees it in the transcript; N is the last line before the send, and the running turn's end answers it; \
csd-send says so on standard error). Codex and Pi take a prompt sent mid-turn into the running turn with a \
user_prompt_submit of its own, before that turn's stop: N is its line, and the running turn's end answers it. On \
a timeout csd-send exits 124 and the prompt stays queued in the worker.

# Signals

SIGINT, SIGTERM or SIGHUP before the paste stops csd-send with nothing typed. One that comes after the paste is \
held until the prompt is confirmed (at most CSD_SUBMIT_TIMEOUT; for a Codex worker's first prompt, \
CSD_REGISTER_TIMEOUT longer), so no half-submitted prompt stays in the worker's input for the next one to be \
appended to. Then csd-send dies of that signal, and the shell sees status 128+N.

# Converse

With --converse, csd-send then waits for the turn the prompt started to end (at most TIMEOUT seconds, default \
120) and prints the worker's reply: the assistant's final text, or with --with-turn the whole turn as markdown, as \
csd-turn(1) prints it. A queued prompt's turn is waited for after the current one; a prompt the worker folded \
into its running turn (see Receipts) is answered by that turn. When the worker's tmux session \
ends meanwhile (it died, or was stopped under it), csd-send returns at once with status 4. A turn that failed \
(the model API's error: exit 5), waits on a person (a question, a dialog: exit 6) or was interrupted (exit 7) \
returns as soon as the worker shows it, with why on standard error (with --with-turn, also as the end of the \
markdown). A worker that is blocked takes no prompt: csd-send exits 6 and sends nothing. When the timeout passes and CSD_CONVERSE_DIAG_FILE is \
set, a post-mortem is written there (processes, the worker's pane, the tails of its transcript and event log) and \
its path given on standard error.

# Answers

A worker can stop to ask a question with options (Claude Code's AskUserQuestion): its turn then ends blocked \
(status 6 for a converse or wait), and csd-status --json shows the question and its options. csd-send --answer \
WORKER N picks option N (counted from 1, as listed) and returns once the worker has taken the answer (its \
post_tool_use, at most CSD_SUBMIT_TIMEOUT seconds); the turn then goes on and ends with a stop of its own, which \
csd-wait waits for. A form of several questions takes one N for each, in order. Without a pending question, with \
an N out of range or a count of Ns other than the number of questions, nothing is typed and the status is 2; so \
too for a question that allows several answers (answer it in the pane).",
    options: &[
        flag(None, "answer", "pick option N of the question the worker waits on", "one N per question; see Answers"),
        flag(None, "converse", "wait for the turn and print the reply", ""),
        flag(None, "with-turn", "with --converse: print the whole turn as markdown", ""),
        flag(
            None,
            "receipt",
            "print the event-log line whose next turn end answers this prompt",
            "for csd-wait --after-line; waits for a queued prompt to be taken (see Receipts)",
        ),
        flag(
            None,
            "command",
            "type one of the CLI's own commands (/compact, /clear) instead of a prompt",
            "the input is emptied first, COMMAND typed and Enter pressed; nothing confirms it (see Text, never a \
             command)",
        ),
    ],
    operands: &[
        WORKER,
        Operand { name: "PROMPT", complete: Complete::Nothing, help: "the prompt; - reads it from standard input" },
        Operand {
            name: "TIMEOUT",
            complete: Complete::Nothing,
            help: "with --converse: seconds to wait for the turn; with --receipt: for a queued prompt to be taken \
                   (default 120)",
        },
    ],
    env: &[
        ENV_WORKER_DIR,
        ENV_TMUX_TIMEOUT,
        Var { name: "CSD_SUBMIT_TIMEOUT", help: "seconds to wait for the confirmation (default 10)" },
        Var { name: "CSD_SUBMIT_RETRY_INTERVAL", help: "seconds between Enter presses (default 2)" },
        Var {
            name: "CSD_REGISTER_TIMEOUT",
            help: "seconds a Codex worker has to register after its first prompt (default 15)",
        },
        Var { name: "CSD_CONVERSE_DIAG_FILE", help: "where --converse writes its post-mortem on a timeout" },
    ],
    exits: &[
        Exit {
            code: "0",
            help: "submitted (or queued); with --converse, the reply is on standard output; with --receipt, the \
                   receipt",
        },
        Exit {
            code: "1",
            help: "failure: the worker did not confirm the prompt, no reply was found, or tmux could not be asked",
        },
        Exit {
            code: "2",
            help: "usage error or bad input (an empty prompt; --answer: no pending question, an N out of range)",
        },
        EXIT_NO_WORKER,
        Exit { code: "4", help: "the worker's tmux session is gone (it died, crashed or was stopped mid-turn)" },
        EXIT_TURN_FAILED,
        Exit { code: "6", help: "the worker is blocked on a question or a dialog (nothing is sent to it then)" },
        EXIT_TURN_INTERRUPTED,
        Exit {
            code: "124",
            help: "--converse: the turn did not end within TIMEOUT; --receipt: the queued prompt was not taken \
                   within TIMEOUT; another send to the worker held its send lock past CSD_SUBMIT_TIMEOUT",
        },
        Exit { code: "128+N", help: "killed by signal N (a pasted prompt was confirmed first)" },
    ],
    examples: &[
        Example { command: "csd-send w1 \"fix the failing test\"", help: "" },
        Example { command: "git diff | csd-send w1 -", help: "" },
        Example { command: "csd-send --converse w1 \"what did you change, in one line?\" 300", help: "" },
        Example { command: "csd-send --converse w1 --with-turn \"run the tests\" 600 > turn.md", help: "" },
        Example { command: "csd-send --command w1 /compact", help: "run the CLI's own command, not a prompt" },
        Example { command: "csd-send --answer w1 2 && csd-wait w1 600", help: "pick option 2 of w1's question" },
    ],
    subcommands: &[],
};

pub const CSD_EVENTS: Tool = Tool {
    name: "csd-events",
    summary: "print a csd worker's lifecycle events as JSON lines",
    usage: &[
        "WORKER [--last N] [--type TYPE] [--follow]",
        "--all [--last N] [--type TYPE] [--follow]",
        "--path WORKER",
    ],
    description: "csd-events prints the events of WORKER (its name, or sid:ID), one JSON object a line, as \
its harness logged them:

  {\"event\":\"pre_tool_use\",\"ts\":\"2026-11-25T10:00:01Z\",\"tool\":\"Bash\",...}

The event is one of session_start (with cwd), user_prompt_submit, pre_tool_use (with tool and tool_input), \
post_tool_use (with tool), stop and session_end; ts is UTC to the second. A line that is not a whole, known event \
(torn by a crash, or garbage) is skipped. --last reads backwards from the end of the log, so its cost does not \
grow with the log.

With --follow, csd-events keeps printing events as they land, each line flushed at once, woken by the change \
(inotify), not a timer. It ends with status 0 when the worker is stopped or ends its session, or when its reader \
goes away, and, as tail --pid, with status 4 when the worker's tmux session dies. A reader that closes the pipe \
early (head -1) is not an error: csd-events exits 0 and prints nothing on standard error.

# Every worker

With --all, csd-events prints every worker's events as one stream, each line with \"worker\" (its name) and \
\"session_id\" added: what is there now in time order (--last N: the last N of them), then, with --follow, \
events as they land. Workers launched after the stream starts join it and stopped ones leave it; nothing is \
printed twice or lost. It ends only when its reader goes away.

# Remote workers

For a remote worker (csd-launch --host), csd-events runs on its host, over ssh, and --follow streams from \
there as events land. --all takes in every host with workers of this machine's: each host's lines for those \
workers, with \"host\" (the destination) added, merged by time with this machine's; with --follow, lines are \
printed as they come from each, and --last N applies to each host's replay.",
    options: &[
        valued(
            Some('n'),
            "last",
            "N",
            Complete::Nothing,
            "only the last N events (of TYPE, with --type)",
            "with --follow, replay only the last N before following (0: only new events)",
        ),
        valued(
            Some('t'),
            "type",
            "TYPE",
            Complete::EventType,
            "only events of this type",
            "an unknown type is a usage error",
        ),
        flag(Some('f'), "follow", "keep printing events as they land", ""),
        flag(None, "path", "print the path of the worker's event log and exit", ""),
        flag(Some('a'), "all", "every worker's events, merged, each naming its worker", ""),
    ],
    operands: &[WORKER],
    env: &[ENV_WORKER_DIR, ENV_TMUX_SOCKET, ENV_TMUX_TIMEOUT],
    exits: &[
        EXIT_OK,
        Exit { code: "1", help: "failure (for example an unreadable worker dir, or a log that is not a regular file)" },
        Exit { code: "2", help: "usage error or bad input, such as an invalid worker name or event type" },
        EXIT_NO_WORKER,
        Exit { code: "4", help: "with --follow: the worker's tmux session died" },
    ],
    examples: &[
        Example { command: "csd-events w1 --follow | grep --line-buffered pre_tool_use", help: "" },
        Example { command: "csd-events w1 --last 1 --type stop", help: "" },
        Example { command: "tail -f \"$(csd-events --path w1)\"", help: "" },
        Example {
            command: "csd-events --all --follow --type stop |\n  while read -r l; do notify-send csd \"$l\"; done",
            help: "a push for every turn that ends, in any worker",
        },
    ],
    subcommands: &[],
};

pub const CSD_TURN: Tool = Tool {
    name: "csd-turn",
    summary: "print a csd worker's last turn as markdown",
    usage: &["WORKER [--full]", "--path WORKER"],
    description: "csd-turn prints the last turn of a worker's session: the last prompt someone typed and \
everything the agent did after it, in order. It reads the harness's own transcript from its end backwards and \
stops at the line that opened the turn, so its cost grows with the last turn, not with the transcript. For a \
Claude Code worker the transcript is ~/.claude/projects/<cwd as a name>/<session id>.jsonl, or the \
transcript_path the worker's hook recorded in its meta; Codex's rollout and Pi's session file are read the same \
way.

The turn is printed as markdown, each piece followed by a blank line:

  ---
  **Prompt:** the prompt
  > **Thinking:** the agent's thinking, every line of it in the blockquote
  what the agent wrote
  **Tool: Bash**       then the call's input as compact JSON in a json fence
  **Result:**          the output in a fence, cut to 5 lines and a line
                       \"... (N lines total)\" (whole with --full)
  **Tool Error:**      the output of a tool that failed, never cut

Lines nobody typed do not open a turn and are not shown: Claude Code's echoes of slash commands \
(<command-...>, <local-command-...>), meta caveats and compaction summaries. Lines that are not JSON, such as a \
last line torn by a crash, are skipped.

A turn that did not finish ends with why, after a blank line: **Turn failed:** with the error's kind, HTTP \
status, message and retry time; **Turn interrupted.**; **The CLI exited mid-turn.**; or **Blocked on a \
question.** with each question and its numbered options.",
    options: &[
        flag(None, "full", "print tool results whole", ""),
        flag(None, "path", "print the path of the worker's transcript and exit", ""),
    ],
    operands: &[WORKER],
    env: &[ENV_WORKER_DIR, Var { name: "HOME", help: "where Claude Code keeps its transcripts" }],
    exits: &[
        Exit { code: "0", help: "the turn was printed" },
        Exit {
            code: "1",
            help: "failure: the transcript is not at the path the message names, it holds no prompt yet, or the \
                   worker's harness has not said where it is",
        },
        Exit { code: "2", help: "usage error" },
        EXIT_NO_WORKER,
    ],
    examples: &[
        Example { command: "csd-turn reviewer", help: "" },
        Example { command: "csd-turn reviewer --full | less", help: "" },
    ],
    subcommands: &[],
};

pub const CSD_STATUS: Tool = Tool {
    name: "csd-status",
    summary: "what a csd worker is doing, and which workers there are",
    usage: &["WORKER [--json]", "--list [--all] [--json] [PATTERN]", "--session-id WORKER", "--diff WORKER"],
    description: "With WORKER (a name, or sid:ID for a session id), csd-status prints one word:

  idle        waiting for a prompt: its last event is stop or session_start,
              or its harness (Codex) has not minted its session id yet
  working     in a turn: user_prompt_submit, pre_tool_use or post_tool_use
  blocked     its turn waits on a person: a question it asked, a dialog
              (answer a question with csd-send --answer)
  limited     its last turn failed on a rate or usage limit whose reset time
              is still ahead (csd-wait --ready sleeps until then); it takes
              prompts, which would likely fail until then
  terminated  its session ended (session_end) while its tmux session is there
  gone        no tmux session stamped as this worker's exists
  unknown     it has logged no event yet, or its latest event could not be
              written (a full disk: csd-status says so and exits 1)
  unreachable (--list only) a remote worker whose host did not answer

The status reads only the end of the event log, so it costs the same on a log of any size. When tmux cannot be \
asked and the pane process recorded at launch does not answer for it, csd-status fails (status 1) rather than \
say gone. When several metas name one worker (as an older csd could leave), the one whose session runs is taken; \
if none or more than one runs, csd-status fails and lists their session ids: name the worker by session id \
(sid:ID), or prune.

A remote worker (csd-launch --host) is asked on its host, over ssh; its status, JSON or session id is printed \
as the host's csd gives it, with the host's exit status. --list asks every host with workers of this machine's \
once, all at the same time, and shows the rows it gets with their HOST; a host that does not answer within \
CSD_SSH_CONNECT_TIMEOUT shows its workers as unreachable, says why on standard error, and makes the status 1: \
they are not taken for gone.",
    options: &[
        flag(
            None,
            "list",
            "list workers as a table: STATUS HARNESS TMUX SESSION_ID SHIM CWD TOOL TOKENS HOST",
            "gone workers are left out unless --all; PATTERN keeps names that contain it. A worker whose harness \
             has not minted its session id yet shows - for it. TOOL is the tool a working worker runs now, TOKENS \
             the input and output tokens its session used (see --json), - when there is none or it is not known; \
             HOST is a remote worker's ssh destination (- for this machine's); these come last so the columns \
             before them keep their places. A worker tmux could not be asked about is listed \
             as unknown, why is said on standard error, and the status is 1; so is a worker whose latest event \
             could not be written. A meta that does not hold up is named on standard error and skipped. With no \
             rows, \"No workers found\" goes to standard error. A cell never holds a tab or a line break, whatever \
             a directory is called: a backslash is written \\\\, a newline \\n, a tab \\t, a carriage return \\r and any \
             other control character \\xHH (--json gives the text as it is)",
        ),
        flag(Some('a'), "all", "with --list, include gone workers", ""),
        flag(
            None,
            "json",
            "print JSON instead (an object; an array with --list)",
            "one object per worker: name, harness, status, session_id, cwd; since (the time of its last event); \
             tool (the tool it runs now: its last event is a pre_tool_use and it is working; else null); \
             prompt_line (the event-log line of its latest user_prompt_submit, counted as --after-line of \
             csd-wait counts, or null); tokens {input, output, cache_read, cache_write}, summed over the session \
             from its harness's own transcript (Claude Code: each message's usage, once per message; Codex: the \
             rollout's running total, its cached input as cache_read and not in input; Pi: each assistant \
             message's usage), 0 before the transcript has any, null where the harness does not record a count \
             or the transcript cannot be read (why goes to standard error); and tmux_name, shim and events as \
             before; host, a remote worker's destination or null; csd_id, the worker's id (the stamp on its \
             tmux session), or null for a worker an older csd launched; last_turn, how the turn it last ended ended, \
             when its log ends with that turn's stop (else null): {verdict: done, failed, interrupted, crashed \
             or blocked, and error {kind, message, status, retry_at}, message, or blocked {on, message, \
             questions [{question, header, options [{label, description}], multi_select}]} as they apply}; worktree, \
             for a worker launched with --worktree, else null: {path, branch, base (the branch or commit it was \
             made from), base_commit, ahead (commits on the branch not in the base), changed_files (files that \
             differ from the base, committed or not), uncommitted (git status lines)}, the counts null when git \
             cannot give them (why goes to standard error). A worktree kept after its worker ended is listed as \
             a gone row (--list shows it even without --all) until it is removed. The counts are kept in <session id>.tally in the worker dir, so each call reads only what \
             the log and the transcript gained since the last one",
        ),
        flag(None, "session-id", "print the worker's session id", ""),
        flag(
            None,
            "diff",
            "print what the worker changed in its worktree since its base, committed or not, as a patch",
            "for a worker launched with --worktree (or one whose worktree was kept at stop): everything that \
             differs between where its branch left the base and its worktree as it is, commits, uncommitted \
             edits and new untracked files alike (ignored files not), binary-safe, so git apply in a checkout of \
             the base takes it. The worktree's index is not touched. A worker without a worktree is status 1",
        ),
    ],
    operands: &[WORKER],
    env: &[ENV_WORKER_DIR, ENV_TMUX_SOCKET, ENV_TMUX_TIMEOUT],
    exits: &[
        EXIT_OK,
        Exit {
            code: "1",
            help: "failure (a worker whose latest event could not be written, a full disk: its state is not \
                   known; with --list: a worker tmux could not be asked about, or such a worker, listed as unknown; \
                   with --session-id: a worker that has no session id yet)",
        },
        EXIT_USAGE,
        EXIT_NO_WORKER,
    ],
    examples: &[
        Example { command: "until [ \"$(csd-status w1)\" = idle ]; do sleep 1; done", help: "" },
        Example { command: "csd-status --list --all --json | jq -r '.[].tmux_name'", help: "" },
        Example {
            command: "csd-wait w1 600 --after-line \"$(csd-status --json w1 | jq .prompt_line)\"",
            help: "wait for the end of the turn the latest prompt opened, even if it already ended",
        },
    ],
    subcommands: &[],
};

pub const CSD_STOP: Tool = Tool {
    name: "csd-stop",
    summary: "end a csd worker, hand it to a human, or prune dead workers",
    usage: &["WORKER [--discard]", "--handoff WORKER", "--prune"],
    description:
        "With WORKER (a name, or sid:ID for a session id), csd-stop asks its harness to quit (/exit for Claude Code, \
/quit for Codex and Pi), waits for its session_end event (woken by inotify) and for its pane to close, and kills \
the tmux session if it outlives the harness's grace period. It kills only the session stamped as the worker's, by \
its server-wide id, never a session that took the name since. What the worker started and left running (a \
dev server started with nohup ... &, a daemon started with setsid) is ended after the harness: SIGTERM, 2 s, then SIGKILL, each process \
named on standard error (\"ended N processes worker 'NAME' had started: PID (COMMAND), ...\"). Only processes \
/proc proves the worker's are touched: the pane's process and its descendants, what runs in its pane's terminal \
session, and daemons (parent 1) whose environment carries the worker's CSD_WORKER_ID, with their descendants; \
never another user's, a tmux process, or the stopping process and its ancestors. It then removes the worker's meta, event log, shim, \
harness marker and per-worker home ($CSD_WORKER_DIR/homes/NAME, where Codex and Pi workers keep their staged \
configuration and credentials). A worker whose tmux session is already gone just has its state removed. A worker \
launched under a harness that had not yet minted its session id is stopped by its name. When tmux cannot be \
asked, csd-stop fails and changes nothing. Two stops of one worker at once both succeed, or one says there is no \
such worker (status 3).

# Worktrees

A worker launched with --worktree (see csd-launch(1)) has its worktree and branch removed, by git, only when the \
worktree has no uncommitted change (git status shows nothing, untracked files included) and every commit on its \
branch is in the base (the base branch as it is now) or on a remote-tracking branch (pushed). Otherwise they are \
kept, and csd-stop says where (\"Kept its worktree PATH (branch B): N uncommitted changes, M commits not in BASE \
nor pushed\") and exits 0; the worker's other state goes, but the worktree stays listed (csd list) and its name \
taken until a later csd-stop NAME (after a merge) or csd-stop --discard NAME removes it. --discard removes them \
whatever they hold and says what it removed. --prune applies the same rule to the worktrees of the workers it \
prunes, and to kept worktrees whose work has since been merged. Before git is asked to remove anything, the \
worktree is proven the recorded repository's, on the recorded branch (git worktree list --porcelain); a record \
that does not hold up is named and left alone. A remote worker's worktree is on its host and so is the rule; \
when the host keeps it, the record here stays, so csd list shows it, csd --worker NAME diff reads it and a later \
csd-stop (--discard) removes it, from here. The host checks such a call against the id of the worker the \
worktree was made for.",
    options: &[
        flag(
            None,
            "discard",
            "remove the worker's worktree and branch even with uncommitted or unmerged work",
            "and say what was removed",
        ),
        flag(
            None,
            "handoff",
            "print how a human attaches to the worker's tmux session",
            "tmux -S /socket/path attach -t =NAME, which works from any shell. The worker keeps running; the \
             controller can go on after the human detaches",
        ),
        flag(
            None,
            "prune",
            "remove the state of every worker proven gone, and shims with neither meta nor marker",
            "live workers, registered or not, are left alone; so is a worker tmux could not be asked about, named \
             on standard error as \"left NAME alone: why\", and the status is then 1. A meta that does not hold up \
             is named on standard error and left in place. It holds the worker dir's lock meanwhile, so it never \
             takes a worker that csd-launch is still making for a dead one",
        ),
    ],
    operands: &[WORKER],
    env: &[ENV_WORKER_DIR, ENV_TMUX_SOCKET, ENV_TMUX_TIMEOUT],
    exits: &[
        EXIT_OK,
        Exit {
            code: "1",
            help: "failure, tmux could not be asked included (with --prune: something that may still run was left \
                   alone)",
        },
        EXIT_USAGE,
        EXIT_NO_WORKER,
        Exit { code: "4", help: "with --handoff: the worker's tmux session is gone" },
    ],
    examples: &[
        Example { command: "csd-stop w1", help: "" },
        Example { command: "csd-stop --handoff w1", help: "" },
        Example { command: "csd-stop --prune", help: "" },
    ],
    subcommands: &[],
};

pub const CSD_HOOK: Tool = Tool {
    name: "csd-hook",
    summary: "record a harness lifecycle event in a csd worker's event log",
    usage: &["[TMUX_NAME CWD WORKER_DIR [HARNESS]] < PAYLOAD"],
    description: "Claude Code and Codex run csd-hook on each lifecycle event, with the hook payload (JSON) on \
standard input. It maps SessionStart, UserPromptSubmit, PreToolUse, PostToolUse, Stop and SessionEnd (and \
Codex's Interrupt, as a stop) to csd's six events and appends the event to <session id>.events.jsonl, with one \
write(2) on a descriptor opened with O_APPEND, so events from concurrent hooks never splice. An append is whole or \
nothing: a short write (a full disk) is cut back to where it began, and a torn last line someone else left is \
ended with a newline first, so it never swallows the event. An event that could not be written leaves \
<session id>.events.lost (empty, when even that is all the disk allows) until the next one is written: \
csd-status and csd-wait then say the worker's state is not known, never that it is still working.

It writes only for a managed worker: one whose <session id>.meta exists in the worker dir. In any other session \
it does nothing.

With TMUX_NAME CWD WORKER_DIR, as csd writes into a Codex worker's hook configuration, a harness that mints its \
own session id registers the worker: on its first event the meta is written (atomically), provided csd launched \
that worker (its TMUX_NAME.harness marker exists). It records the pane's CSD_TMUX_SOCKET as tmux_socket and its \
CSD_WORKER_ID as csd_id, the stamp on the worker's tmux session.

A worker follows its CLI into a new session: Claude Code's /clear ends the session (SessionEnd, reason clear: not \
logged, the worker has not ended) and starts one under a new id (SessionStart, source clear). A SessionStart for a \
session csd does not know, from the pane of an idle worker (its CSD_WORKER_ID and CSD_TMUX_SOCKET name that \
worker's meta), with source clear, resume, compact or fork (or, from a hook given TMUX_NAME, for that worker: \
Codex says startup after /new), moves the worker to the new id: a new meta (moved_from names the old id), the \
event log carried over, the old meta and tally removed, the shim unchanged. A CLI the worker runs in a tool call \
starts while the worker is working, and moves nothing.

Standard input is read for at most 5 seconds and 8 MiB; the rest of a larger payload is read and dropped, and its \
leading fields still name the event.",
    options: &[],
    operands: &[
        Operand { name: "TMUX_NAME", complete: Complete::Nothing, help: "the worker's name (Codex hooks)" },
        Operand { name: "CWD", complete: Complete::Dir, help: "the worker's directory" },
        Operand { name: "WORKER_DIR", complete: Complete::Dir, help: "the worker dir" },
        Operand { name: "HARNESS", complete: Complete::Harness, help: "the harness (default codex)" },
    ],
    env: &[
        Var { name: "CSD_WORKER_DIR", help: "the worker dir, when no WORKER_DIR argument names it" },
        Var { name: "CSD_TMUX_SOCKET", help: "set by csd-launch in the worker's pane; copied into a registering meta" },
        Var { name: "CSD_WORKER_ID", help: "set by csd-launch in the worker's pane; copied into a registering meta" },
    ],
    exits: &[Exit {
        code: "0",
        help: "always, and nothing is printed (but --help): a hook must never break the agent it runs in",
    }],
    examples: &[],
    subcommands: &[],
};

pub const CSD_DOCTOR: Tool = Tool {
    name: "csd-doctor",
    summary: "prove each installed harness still works with csd, offline",
    usage: &["[--harness H]... [--json] [--keep]"],
    description: "csd-doctor checks, for each harness installed (found as csd-launch finds it: {HARNESS_BINS}, \
else PATH) or each one named with --harness, that csd still drives it. Run it after \
updating a harness. It starts a mock model server on 127.0.0.1 ({HARNESS_MOCKS}), launches a real worker through csd's own launch path and checks each \
step: launch (the worker is ready), prompt (it takes a prompt whose turn makes one shell call), turn_end (the \
turn's end is seen), read_turn (the turn shows the call and the answer), events (the log holds the tool's \
pre_tool_use) and stop (no process and no file of the worker is left). The harnesses are checked side by side.

It never touches your own setup: the workers run in a temp dir of their own, with HOME, the worker dir and the \
tmux server (a private socket) all inside it, seeded as csd's end-to-end tests seed theirs, and their telemetry \
and update checks turned off. The mock is reached only through each worker's own environment and private \
configuration. Everything it started is stopped, and the temp dir removed, even when a step fails or it is \
interrupted.

It prints one row per harness: the harness, its version (<binary> --version), the result (ok, FAIL, or not \
installed), the time taken, the binary's path and each step with its result and time; a failing row is followed \
by the first step that failed and why. A version outside the range csd was proven on ({HARNESS_PROVEN}) is a warning, even when every step passed.",
    options: &[
        valued(
            None,
            "harness",
            "{HARNESSES|}",
            Complete::Harness,
            "check this harness (repeatable); a named harness that is not installed fails",
            "without it, every harness that is installed is checked, and one that is not is reported as such",
        ),
        flag(None, "json", "print one JSON document instead of the rows", ""),
        flag(
            None,
            "keep",
            "keep a failing worker's pane capture, events and transcript",
            "in a directory of their own, printed in its row (\"kept\" in JSON)",
        ),
    ],
    operands: &[],
    env: &[
        Var {
            name: "CSD_<HARNESS>_BIN",
            help: "a harness's binary, one variable per harness ({HARNESS_BINS}); default: its command on PATH",
        },
        Var { name: "CSD_DOCTOR_TIMEOUT", help: "seconds each step may take (default 60)" },
    ],
    exits: &[
        Exit { code: "0", help: "every harness checked passed (warnings included)" },
        Exit {
            code: "1",
            help: "a harness failed a step, a harness named with --harness is not installed, or none is installed \
                   (stderr names what to install)",
        },
        EXIT_USAGE,
        Exit { code: "128+N", help: "killed by signal N, after everything it started was taken back" },
    ],
    examples: &[
        Example { command: "csd doctor", help: "check every installed harness" },
        Example { command: "csd-doctor --harness codex --keep", help: "" },
        Example { command: "csd-doctor --json | jq '.harnesses[] | {harness, result, failed_step}'", help: "" },
    ],
    subcommands: &[],
};

pub const CSD_MCP: Tool = Tool {
    name: "csd-mcp",
    summary: "serve csd's commands to an MCP client over standard input and output",
    usage: &[""],
    description: "csd-mcp is a Model Context Protocol server on standard input and output: a controller that \
speaks MCP (Claude Code, Codex, Gemini CLI, OpenCode) drives csd workers through its tools instead of a shell. \
It ends when its client closes standard input.

Each tool runs one csd binary installed beside csd-mcp, with an argument vector (never a shell), and gives back \
what that binary prints: the same fields as its --json where it has one. A tool that fails is a tool error whose \
text is the binary's one-line message and its exit status (the same statuses as every csd binary: see EXIT \
STATUS). A prompt goes to csd-send on its standard input, so any text is safe.

  launch      csd-launch [--harness H] [--host DEST] [--worktree] NAME CWD
  send        csd-send --receipt WORKER PROMPT: the receipt
  converse    csd-send --converse WORKER PROMPT: the reply
  answer      csd-send --answer WORKER N...
  wait        csd-wait WORKER [--after-line N], or --any|--all WORKER...
  read_turn   csd-turn WORKER [--full]
  read_events csd-events WORKER|--all [--last N] [--type TYPE]
  status      csd-status --json WORKER
  list        csd-status --list --json [--all] [PATTERN]
  diff        csd-status --diff WORKER
  stop        csd-stop WORKER [--discard]
  handoff     csd-stop --handoff WORKER

Each tool's description is the short help (-h) of the binary it runs, and its input fields are that binary's \
options, each described by the option's own help.

# Long calls

launch, converse and wait send a progress notification every 2 seconds while they run, when the client gave a \
progress token. Each call runs on its own task, so a wait on one worker never holds up a call about another. \
A call the client cancels ends at once: its csd process gets SIGTERM (csd-send first finishes confirming a \
prompt it pasted, so nothing is half sent) and the worker runs on.

# Workers as resources

Each worker is a resource, csd://worker/NAME: its status (csd-status --json) and its last turn (csd-turn). A \
client that subscribes to one is sent notifications/resources/updated as soon as the worker's turn ends, \
whether done, failed, blocked or interrupted, or its session ends: csd-mcp follows its event log (a csd-events \
--follow per subscription, woken by inotify, not polling). Every event of a subscribed worker is also sent as a \
log message, from logger csd/NAME.",
    options: &[],
    operands: &[],
    env: &[ENV_WORKER_DIR, ENV_TMUX_SOCKET, HARNESS_VARS],
    exits: &[
        Exit { code: "0", help: "the client closed standard input" },
        Exit { code: "1", help: "failure: the csd binaries are not installed beside csd-mcp, or the transport failed" },
        Exit { code: "2", help: "usage error: csd-mcp takes no arguments" },
    ],
    examples: &[
        Example { command: "claude mcp add csd -- csd-mcp", help: "register it with Claude Code (the plugin does)" },
        Example { command: "codex mcp add csd -- csd-mcp", help: "with Codex" },
    ],
    subcommands: &[],
};
