#!/usr/bin/env python3
"""A scripted stand-in for Claude Code's TUI, for csd's fast tests.

It takes Claude Code's command line (--session-id/--resume, --plugin-dir, ...),
runs in a tmux pane in raw mode with bracketed paste on, and fires the real
hook payload shapes (tests/fixtures/hook-payloads.jsonl) through the plugin's
hook commands, as Claude Code does. It writes a transcript shaped like a real
one under $HOME/.claude/projects/, each turn only after its Stop hook (as
Claude Code 2.1.197 does).

Test switches (passed after `--` by csd-launch, so they follow Claude's args):
  --fake-trust           show the workspace-trust dialog; its "Yes" is option 2
                         and the highlighted option (what Enter picks) is
                         "No, exit", as in newer Claude Code
  --fake-as-root         refuse --dangerously-skip-permissions without
                         IS_SANDBOX=1, as Claude Code does for uid 0
  --fake-no-start        never fire SessionStart
  --fake-die-at-start    print an error and exit 3 before starting
  --fake-swallow-enters N  ignore the first N Enters after each paste
  --fake-hang-all        never end any turn (as if every prompt were `hang`)
  --fake-record FILE     append each submitted prompt to FILE (one JSON string a line)

Its input keeps a cursor: Home (at a line's start it goes up a line), Delete,
Backspace, Ctrl-U (at a line's start it joins the line above), Ctrl-K (at a
line's end it joins the line below), Ctrl-C (clears) act as in
Claude Code 2.1.197, and a `!` landing at the start of an empty input is
shell mode: Enter runs the line in /bin/sh, with no hook.

What a prompt asks for (its first word):
  sleep:N   the turn takes N seconds
  toolsleep:N  the turn runs a Bash tool call for N seconds; a prompt
            submitted meanwhile is folded into the turn at the tool's result
            (a queued_command attachment, no UserPromptSubmit), as Claude
            Code 2.1.197 does
  die       exit in the middle of the turn (after a tool starts)
  hang      never end the turn
  tool      run a Bash tool call before replying
  bash:     run the rest of the prompt through /bin/sh as a Bash tool call
            (e.g. `bash: nohup sleep 1000 &`), waiting for the shell to exit
anything else: the reply is "Reply: " + the prompt's first line.
"""

import json
import os
import select
import subprocess
import sys
import termios
import time
import tty
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
PAYLOADS = os.path.join(HERE, "..", "fixtures", "hook-payloads.jsonl")
PASTE_START = b"\x1b[200~"
PASTE_END = b"\x1b[201~"


def parse_args(argv):
    opts = {"sid": None, "resume": False, "plugin": None, "skip_perms": False, "trust": False,
            "as_root": False, "no_start": False, "die_at_start": False, "swallow": 0, "record": None,
            "hang_all": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if a == "--session-id":
            opts["sid"] = nxt; i += 1
        elif a == "--resume":
            opts["sid"] = nxt; opts["resume"] = True; i += 1
        elif a == "--plugin-dir":
            opts["plugin"] = nxt; i += 1
        elif a in ("--settings", "--disallowed-tools"):
            i += 1
        elif a == "--dangerously-skip-permissions":
            opts["skip_perms"] = True
        elif a == "--fake-trust":
            opts["trust"] = True
        elif a == "--fake-as-root":
            opts["as_root"] = True
        elif a == "--fake-no-start":
            opts["no_start"] = True
        elif a == "--fake-hang-all":
            opts["hang_all"] = True
        elif a == "--fake-die-at-start":
            opts["die_at_start"] = True
        elif a == "--fake-swallow-enters":
            opts["swallow"] = int(nxt); i += 1
        elif a == "--fake-record":
            opts["record"] = nxt; i += 1
        else:
            print(f"fake claude: unknown argument {a}", flush=True)
            sys.exit(2)
        i += 1
    return opts


def project_dir_name(cwd):
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in cwd)


class Fake:
    def __init__(self, opts):
        self.o = opts
        self.sid = opts["sid"] or str(uuid.uuid4())
        self.cwd = os.getcwd()
        home = os.environ.get("HOME", "/")
        self.transcript = os.path.join(home, ".claude", "projects", project_dir_name(self.cwd), self.sid + ".jsonl")
        self.templates = {}
        with open(PAYLOADS) as f:
            for line in f:
                if line.strip():
                    p = json.loads(line)
                    self.templates.setdefault(p["hook_event_name"], p)
        self.hooks = {}
        if opts["plugin"]:
            with open(os.path.join(opts["plugin"], "hooks", "hooks.json")) as f:
                for ev, groups in json.load(f)["hooks"].items():
                    self.hooks[ev] = [h["command"] for g in groups for h in g["hooks"]]
        self.busy_until = None   # a turn in progress ends at this time (None: idle)
        self.hanging = False
        self.queue = []          # prompts submitted mid-turn, for when it ends
        self.reply = None
        self.in_turn = False
        self.pending = []        # transcript lines of the turn in progress
        self.in_tool = False     # a toolsleep: tool call is running
        self.folded = []         # prompts submitted during it, for its result

    def out(self, text):
        sys.stdout.write(text.replace("\n", "\r\n") + "\r\n")
        sys.stdout.flush()

    def hook(self, event, **fields):
        p = dict(self.templates[event])
        p.update(session_id=self.sid, transcript_path=self.transcript, cwd=self.cwd, hook_event_name=event)
        p.update(fields)
        for cmd in self.hooks.get(event, []):
            # Claude Code runs each hook command through a shell, payload on stdin.
            subprocess.run(["/bin/sh", "-c", cmd], input=json.dumps(p).encode(), check=False)

    def log(self, entry):
        # Like Claude Code 2.1.197, a turn reaches the transcript only after
        # its Stop hook has run.
        if self.busy_until is not None or self.hanging or self.in_turn:
            self.pending.append(entry)
            return
        self.write(entry)

    def write(self, entry):
        os.makedirs(os.path.dirname(self.transcript), exist_ok=True)
        entry.setdefault("sessionId", self.sid)
        entry.setdefault("cwd", self.cwd)
        with open(self.transcript, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def start(self):
        if self.o["skip_perms"] and (self.o["as_root"] or os.geteuid() == 0) and os.environ.get("IS_SANDBOX") != "1":
            self.out("--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons")
            sys.exit(1)
        if self.o["die_at_start"]:
            self.out("fake claude: fatal start-up error")
            sys.exit(3)
        if self.o["resume"] and not os.path.exists(self.transcript):
            self.out(f"No conversation found with session ID: {self.sid}")
            sys.exit(1)
        self.out("Welcome to Fake Claude Code")
        if self.o["trust"] and not self.trust_dialog():
            sys.exit(1)
        if not os.path.exists(self.transcript):
            self.write({"type": "mode", "mode": "normal"})
        if self.o["no_start"]:
            self.out("(stuck before SessionStart)")
        else:
            time.sleep(0.1)
            self.hook("SessionStart", source="resume" if self.o["resume"] else "startup")
        self.out("❯ ")

    def trust_dialog(self):
        self.out("Accessing workspace:\n\n " + self.cwd + "\n\n Quick safety check: Is this a project you created or one you trust?")
        self.out(" ❯ 1. No, exit\n   2. Yes, I trust this folder\n\n Enter to confirm · Esc to cancel")
        while True:
            b = os.read(0, 1)
            if b == b"2":
                self.out("trusted")
                return True
            if b in (b"1", b"\r", b"\n", b"\x1b"):
                self.out("not trusted: exiting")
                return False

    def submit(self, prompt):
        if self.in_tool:
            # Claude Code writes the enqueue at once; the prompt joins the
            # turn at the tool's result.
            self.folded.append(prompt)
            self.write({"type": "queue-operation", "operation": "enqueue", "content": prompt})
            self.out(f"  ❯ {prompt[:30]}")
            return
        if self.busy_until is not None or self.hanging:
            self.queue.append(prompt)
            # Claude Code records the enqueue in the transcript at once.
            self.write({"type": "queue-operation", "operation": "enqueue", "content": prompt})
            self.out(f"  ❯ {prompt[:30]}")
            return
        self.begin_turn(prompt)

    def begin_turn(self, prompt):
        if self.o["record"]:
            with open(self.o["record"], "a") as f:
                f.write(json.dumps(prompt) + "\n")
        self.in_turn = True
        self.hook("UserPromptSubmit", prompt=prompt)
        self.log({"type": "user", "message": {"role": "user", "content": prompt}, "uuid": str(uuid.uuid4())})
        self.out(f"> {prompt.splitlines()[0][:60] if prompt else ''}")
        word = prompt.split()[0] if prompt.split() else ""
        seconds = 0.05
        if word.startswith("sleep:"):
            seconds = float(word[6:])
        if word.startswith("toolsleep:"):
            seconds = float(word[10:])
            self.in_tool = True
            self.hook("PreToolUse", tool_name="Bash", tool_input={"command": f"sleep {seconds}"})
        if word == "bash:":
            command = prompt.split("bash:", 1)[1].strip()
            self.hook("PreToolUse", tool_name="Bash", tool_input={"command": command})
            subprocess.run(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            self.hook("PostToolUse", tool_name="Bash", tool_input={"command": command},
                      tool_response={"stdout": "", "stderr": "", "interrupted": False})
        if word in ("tool", "die"):
            self.hook("PreToolUse", tool_name="Bash", tool_input={"command": "echo hi", "description": "say hi"})
            if word == "die":
                self.out("fake claude: dying mid-turn")
                os._exit(1)
            self.log({"type": "assistant", "message": {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "echo hi"}}]}})
            self.log({"type": "user", "message": {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "hi", "is_error": False}]}})
            self.hook("PostToolUse", tool_name="Bash", tool_input={"command": "echo hi"},
                      tool_response={"stdout": "hi", "stderr": "", "interrupted": False})
        self.reply = "Reply: " + (prompt.splitlines()[0] if prompt else "")
        if word == "hang" or self.o["hang_all"]:
            self.hanging = True
        else:
            self.busy_until = time.time() + seconds

    def end_turn(self):
        if self.in_tool:
            self.in_tool = False
            self.hook("PostToolUse", tool_name="Bash", tool_input={"command": "sleep"},
                      tool_response={"stdout": "", "stderr": "", "interrupted": False})
            for prompt in self.folded:
                if self.o["record"]:
                    with open(self.o["record"], "a") as f:
                        f.write(json.dumps(prompt) + "\n")
                self.log({"type": "queue-operation", "operation": "remove"})
                self.log({"type": "attachment", "uuid": str(uuid.uuid4()),
                          "attachment": {"type": "queued_command", "prompt": prompt, "commandMode": "prompt"}})
                self.reply += " + " + (prompt.splitlines()[0] if prompt else "")
            self.folded = []
        self.log({"type": "assistant", "message": {"role": "assistant", "content": [{"type": "text", "text": self.reply}]}})
        self.log({"type": "system", "subtype": "turn_duration", "durationMs": 50})
        self.hook("Stop", stop_hook_active=False, last_assistant_message=self.reply)
        time.sleep(0.2)
        self.busy_until = None
        self.in_turn = False
        for entry in self.pending:
            self.write(entry)
        self.pending = []
        self.out(self.reply)
        if self.queue:
            self.begin_turn(self.queue.pop(0))
        self.draw()

    def run(self):
        self.start()
        sys.stdout.write("\x1b[?2004h")
        sys.stdout.flush()
        buf = b""
        self.composer = ""
        self.cursor = 0
        self.bash_mode = False
        in_paste = False
        pasted = b""
        swallow = 0
        while True:
            timeout = None
            if self.busy_until is not None:
                timeout = max(0.0, self.busy_until - time.time())
            ready, _, _ = select.select([0], [], [], timeout)
            if self.busy_until is not None and time.time() >= self.busy_until:
                self.end_turn()
            if not ready:
                continue
            data = os.read(0, 65536)
            if not data:
                return
            buf += data
            before = (self.composer, self.bash_mode)
            while buf:
                if in_paste:
                    end = buf.find(PASTE_END)
                    if end < 0:
                        # Keep a possible partial end marker for the next read.
                        keep = len(PASTE_END) - 1
                        pasted += buf[:-keep] if len(buf) > keep else b""
                        buf = buf[-keep:] if len(buf) > keep else buf
                        break
                    pasted += buf[:end]
                    buf = buf[end + len(PASTE_END):]
                    in_paste = False
                    swallow = self.o["swallow"]
                    self.insert(pasted.decode("utf-8", "replace").replace("\r", "\n"), paste=True)
                    self.out(f"[Pasted text: {len(pasted)} bytes]")
                    pasted = b""
                    continue
                if buf.startswith(PASTE_START):
                    in_paste = True
                    buf = buf[len(PASTE_START):]
                    continue
                if buf.startswith(b"\x1b"):
                    seq = self.escape(buf)
                    if seq is None:
                        break  # an escape sequence split across reads
                    buf = buf[seq:]
                    continue
                c, buf = buf[:1], buf[1:]
                if c in (b"\r", b"\n"):
                    if swallow > 0:
                        swallow -= 1
                        self.out("(Enter swallowed: still taking the paste)")
                        continue
                    text, bash = self.composer, self.bash_mode
                    self.composer, self.cursor, self.bash_mode = "", 0, False
                    if bash:
                        # Like Claude Code's shell mode: bash runs it, no model, no hook.
                        subprocess.run(["/bin/sh", "-c", text], check=False)
                        self.out(f"! {text}")
                        continue
                    if text.strip() == "/clear":
                        # As Claude Code 2.1.197: the old session ends, a new one (new id) starts.
                        self.hook("SessionEnd", reason="clear")
                        self.sid = str(uuid.uuid4())
                        self.transcript = os.path.join(os.path.dirname(self.transcript), self.sid + ".jsonl")
                        self.write({"type": "mode", "mode": "normal"})
                        self.hook("SessionStart", source="clear")
                        self.out("(cleared)")
                        continue
                    if text.strip() == "/exit":
                        self.hook("SessionEnd", reason="prompt_input_exit")
                        self.out(f"Resume this session with:\nclaude --resume {self.sid}")
                        return
                    if text.strip():
                        self.submit(text)
                elif c == b"\x7f":
                    if not self.composer and self.bash_mode:
                        self.bash_mode = False
                    elif self.cursor > 0:
                        self.composer = self.composer[:self.cursor - 1] + self.composer[self.cursor:]
                        self.cursor -= 1
                elif c == b"\x03":
                    # Ctrl-C with text in the input clears it, as in Claude Code.
                    self.composer, self.cursor = "", 0
                elif c == b"\x0b":
                    end = self.composer.find("\n", self.cursor)
                    end = len(self.composer) if end < 0 else end
                    if end == self.cursor and end < len(self.composer):
                        end += 1  # at a line's end: join the line below
                    self.composer = self.composer[:self.cursor] + self.composer[end:]
                elif c == b"\x15":
                    start = self.composer.rfind("\n", 0, self.cursor) + 1
                    if start == self.cursor and self.cursor > 0:
                        start -= 1  # at a line's start: join it to the line above
                    self.composer = self.composer[:start] + self.composer[self.cursor:]
                    self.cursor = start
                else:
                    self.insert(c.decode("latin-1"), paste=False)
            if (self.composer, self.bash_mode) != before:
                self.draw()

    def draw(self):
        """The input box as Claude Code draws it: `❯` (`!` in shell mode)
        between two rules, `Press up to edit queued messages` in it while
        prompts wait."""
        rule = "─" * 40
        mark = "!" if self.bash_mode else "❯"
        text = self.composer.replace("\n", "\n  ")
        if not text and (self.queue or self.folded):
            # As Claude Code: the sign is in the (empty) input while prompts wait.
            text = "Press up to edit queued messages"
        self.out(f"{rule}\n{mark} {text}\n{rule}")

    def insert(self, text, paste):
        """Text at the cursor. As in Claude Code, a `!` landing at the start
        of an empty input (or typed at its start) switches to shell mode."""
        if self.cursor == 0 and text.startswith("!") and (not self.composer or len(text) == 1):
            self.bash_mode = True
            text = text[1:]
            if not paste:
                return
        self.composer = self.composer[:self.cursor] + text + self.composer[self.cursor:]
        self.cursor += len(text)

    def escape(self, buf):
        """Handle one escape sequence at the start of buf; its length, or
        None when it is not all there yet. Home (at a line's start: the line
        above's) and Delete act; the rest are ignored."""
        if len(buf) < 2:
            return None
        if buf[1:2] == b"O":
            if len(buf) < 3:
                return None
            if buf[2:3] in (b"H",):
                self.home()
            return 3
        if buf[1:2] != b"[":
            return 1
        i = 2
        while i < len(buf) and not (0x40 <= buf[i] <= 0x7e):
            i += 1
        if i >= len(buf):
            return None
        seq = buf[2:i + 1]
        if seq in (b"1~", b"H", b"7~"):
            self.home()
        elif seq == b"3~":
            self.composer = self.composer[:self.cursor] + self.composer[self.cursor + 1:]
        return i + 1

    def home(self):
        start = self.composer.rfind("\n", 0, self.cursor) + 1
        if start == self.cursor and self.cursor > 0:
            start = self.composer.rfind("\n", 0, self.cursor - 1) + 1
        self.cursor = start


def main():
    fake = Fake(parse_args(sys.argv[1:]))
    old = None
    if os.isatty(0):
        old = termios.tcgetattr(0)
        tty.setraw(0)
    try:
        fake.run()
    finally:
        if old is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, old)


if __name__ == "__main__":
    main()
