/**
 * csd's extension for Pi (`pi -e <this file>`): Pi has no hooks, so this maps
 * Pi's lifecycle onto csd's six events and writes them where csd-hook writes
 * Claude's and Codex's: `<worker dir>/<session id>.events.jsonl`.
 *
 *   session_start (startup, new, resume, fork)  -> session_start {cwd}
 *   input (typed or pasted, not rpc/extension)  -> user_prompt_submit
 *   tool_call                                   -> pre_tool_use {tool, tool_input}
 *   tool_result                                 -> post_tool_use {tool}
 *   agent_end                                   -> stop, with the verdict:
 *     last answer ok                              done (no reason)
 *     stopReason "aborted" (Escape)               "reason":"interrupted"
 *     stopReason "error", Pi gives up             "reason":"failed","error":{kind,message,status?}
 *     stopReason "error", Pi will retry           nothing yet (the retry's agent_end ends the turn)
 *   session_shutdown with reason "quit"         -> session_end
 *
 * Pi mints its own session id, so this extension also registers the worker:
 * it writes `<sid>.meta` at session_start, but only for a worker csd launched
 * (csd-launch sets CSD_WORKER_DIR and CSD_TMUX_NAME, and leaves the
 * `<name>.harness` marker, or for an adopt the meta itself), so a stray
 * `pi -e` never invents workers.
 *
 * It runs inside Pi on every event: it never throws into Pi, imports nothing
 * but node built-ins, and does no work at all outside a csd worker.
 * The facts it relies on were measured against pi 0.73.1: docs/harness-pi.md.
 */

import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The slice of Pi's ExtensionAPI we use (declared here: no npm dependency). */
interface PiApi {
  on(event: string, handler: (event: any, ctx: PiContext) => unknown): void;
}

interface PiContext {
  cwd: string;
  sessionManager: {
    getSessionId(): string;
    getSessionFile(): string | undefined;
  };
}

interface Worker {
  dir: string;
  name: string;
  socket: string;
}

/** A session id or worker name becomes a file name: hold it to csd's charset. */
function safeName(s: unknown): s is string {
  return typeof s === "string" && /^[A-Za-z0-9_.-]{1,64}$/.test(s) && !s.startsWith("-") && s !== "." && s !== "..";
}

/** Who this worker is, from the environment csd-launch gave it; null outside csd. */
function workerFromEnv(): Worker | null {
  const dir = process.env.CSD_WORKER_DIR ?? "";
  const name = process.env.CSD_TMUX_NAME ?? "";
  if (dir === "" || !safeName(name)) return null;
  return { dir, name, socket: process.env.CSD_TMUX_SOCKET ?? "" };
}

/** v4's timestamp: UTC, whole seconds. */
function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

/** Pi names its tools in lower case (`bash`); Claude's hooks say `Bash`. */
function toolName(name: unknown): string {
  return typeof name === "string" && name.length > 0 ? name[0].toUpperCase() + name.slice(1) : "";
}

function sessionId(ctx: PiContext): string | null {
  const sid = ctx.sessionManager.getSessionId();
  return safeName(sid) ? sid : null;
}

function metaPath(w: Worker, sid: string): string {
  return join(w.dir, `${sid}.meta`);
}

/** What is in `<sid>.meta` now: csd-launch writes one before an adopted session starts. */
function readMeta(w: Worker, sid: string): Record<string, unknown> {
  try {
    const meta = JSON.parse(readFileSync(metaPath(w, sid), "utf8"));
    return meta !== null && typeof meta === "object" && !Array.isArray(meta) ? meta : {};
  } catch {
    return {};
  }
}

/**
 * Write `<sid>.meta` whole (temp file + rename), only for a worker csd
 * launched; fields another writer put there (started_at, invocation) stay.
 */
function register(w: Worker, sid: string, ctx: PiContext): boolean {
  const meta: Record<string, unknown> = readMeta(w, sid);
  // csd-launch left the marker (a launch) or wrote this meta (an adopt); or
  // this is a new session (`/new`) of a worker registered under another id.
  const launched =
    meta.tmux_name === undefined && (existsSync(join(w.dir, `${w.name}.harness`)) || ownSessions(w).length > 0);
  if (meta.tmux_name !== w.name && !launched) return false;
  Object.assign(meta, { tmux_name: w.name, session_id: sid, cwd: ctx.cwd, harness: "pi" });
  const transcript = ctx.sessionManager.getSessionFile();
  if (transcript) meta.transcript_path = transcript;
  if (w.socket !== "") meta.tmux_socket = w.socket;
  // The stamp on the worker's tmux session: csd counts a session as this
  // worker's only when the two match.
  const id = process.env.CSD_WORKER_ID ?? "";
  if (safeName(id)) meta.csd_id = id;
  meta.registered_at ??= now();
  const tmp = join(w.dir, `.tmp-${sid}-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    writeFileSync(tmp, JSON.stringify(meta), { mode: 0o600, flag: "wx" });
    renameSync(tmp, metaPath(w, sid));
  } catch {
    try {
      unlinkSync(tmp);
    } catch {}
    return false;
  }
  return true;
}

/** The session ids this worker is registered under (a Pi meta with its name). */
function ownSessions(w: Worker): string[] {
  const sids: string[] = [];
  for (const file of readdirSync(w.dir)) {
    const sid = file.endsWith(".meta") ? file.slice(0, -".meta".length) : "";
    if (!safeName(sid)) continue;
    const meta = readMeta(w, sid);
    if (meta.tmux_name === w.name && meta.harness === "pi") sids.push(sid);
  }
  return sids;
}

/**
 * `/new`, `/resume` or `/fork` moved this worker to a new session id: its old
 * meta, log and tally (csd-status's counts) would name a session nobody
 * drives, and outlive `stop`.
 */
function dropOldSessions(w: Worker, sid: string): void {
  for (const old of ownSessions(w).filter((s) => s !== sid)) {
    for (const file of [`${old}.meta`, `${old}.events.jsonl`, `${old}.events.lost`, `${old}.tally`]) {
      try {
        unlinkSync(join(w.dir, file));
      } catch {}
    }
  }
}

/**
 * Append `line` as one write, whole or not at all, as csd-hook does
 * (shared/eventlog.rs): a torn last line someone left is ended with a newline
 * first, so it never swallows this event; a short write (a full disk) is cut
 * back and leaves `<sid>.events.lost`, which tells csd the worker's state is
 * not known, until an append is whole again.
 */
function appendWhole(path: string, line: string): void {
  const lost = path.replace(/\.jsonl$/, ".lost");
  const fd = openSync(path, "a+", 0o600);
  try {
    const before = fstatSync(fd).size;
    let data = Buffer.from(line);
    if (before > 0) {
      const last = Buffer.alloc(1);
      if (readSync(fd, last, 0, 1, before - 1) === 1 && last[0] !== 0x0a) data = Buffer.concat([Buffer.from("\n"), data]);
    }
    // The marker of an event lost before goes first: a reader that sees this
    // event must not find it still there (made again below if this one is lost).
    try {
      unlinkSync(lost);
    } catch {}
    let written = 0;
    let why = "";
    try {
      written = writeSync(fd, data);
    } catch (e) {
      why = String((e as Error)?.message ?? e);
    }
    if (written === data.length) return;
    // Cut back first (no lock here: only our own bytes may go), so a waiter
    // the marker wakes finds the log whole.
    if (fstatSync(fd).size === before + written) ftruncateSync(fd, before);
    try {
      // Created empty even when the reason finds no room.
      writeFileSync(lost, `at ${now()}: ${why || `short write: ${written} of ${data.length} bytes, the disk is full?`}\n`, {
        mode: 0o600,
      });
    } catch {}
  } finally {
    closeSync(fd);
  }
}

/** Append one event as one write on an O_APPEND descriptor, for a registered worker only. */
function record(ctx: PiContext, event: Record<string, unknown>): void {
  try {
    const w = workerFromEnv();
    if (w === null) return;
    const sid = sessionId(ctx);
    if (sid === null) return;
    // Only into this worker's own log (a meta of another name is not ours).
    if (existsSync(metaPath(w, sid)) ? readMeta(w, sid).tmux_name !== w.name : !register(w, sid, ctx)) return;
    const line = JSON.stringify({ event: event.event, ts: now(), ...event }) + "\n";
    appendWhole(join(w.dir, `${sid}.events.jsonl`), line);
  } catch {
    // Losing an event is better than hurting the worker.
  }
}

/** The contract's failure (shared/verdict.rs) for a failed model request. */
interface Failure {
  kind: string;
  message: string;
  status?: number;
}

/**
 * Pi's errorMessage for a failed request, as the contract's failure. The
 * Anthropic SDK words an HTTP error as `<status> <the API's JSON body>`
 * (`429 {"type":"error","error":{"type":"rate_limit_error","message":…}}`), an
 * error event mid-stream as the bare body, a dropped connection as
 * "Connection error."; other providers' SDKs start with the status too.
 */
export function failureOf(errorMessage: unknown): Failure {
  const text = typeof errorMessage === "string" && errorMessage !== "" ? errorMessage : "unknown error";
  const head = /^(\d{3})\b\s*(.*)$/s.exec(text);
  const status = head ? Number(head[1]) : undefined;
  let body: any = undefined;
  try {
    body = JSON.parse(head ? head[2] : text);
  } catch {}
  const apiType = typeof body?.error?.type === "string" ? body.error.type : "";
  const message = typeof body?.error?.message === "string" ? body.error.message : text;
  const byType: Record<string, string> = {
    invalid_request_error: "invalid_request",
    request_too_large: "invalid_request",
    authentication_error: "authentication_failed",
    permission_error: "authentication_failed",
    billing_error: "billing_error",
    not_found_error: "model_not_found",
    rate_limit_error: "rate_limit",
    overloaded_error: "overloaded",
    api_error: "server_error",
  };
  let kind = byType[apiType] ?? (status !== undefined ? kindOfStatus(status) : kindOfText(text));
  // A subscription's usage limit comes as a rate_limit_error (HTTP 429); its
  // message is what tells the two apart.
  if (kind === "rate_limit" && /usage limit/i.test(message)) kind = "usage_limit";
  return status === undefined ? { kind, message } : { kind, message, status };
}

function kindOfStatus(status: number): string {
  if (status === 400 || status === 413 || status === 422) return "invalid_request";
  if (status === 401 || status === 403) return "authentication_failed";
  if (status === 402) return "billing_error";
  if (status === 404) return "model_not_found";
  if (status === 429) return "rate_limit";
  if (status === 503 || status === 529) return "overloaded";
  if (status >= 500 && status <= 599) return "server_error";
  return "unknown";
}

function kindOfText(text: string): string {
  if (/overloaded/i.test(text)) return "overloaded";
  if (/rate.?limit|too many requests/i.test(text)) return "rate_limit";
  if (/connection|network|socket|fetch failed|ECONN|terminated|timed? ?out/i.test(text)) return "network";
  return "unknown";
}

/**
 * Pi retries a failed request by itself (AgentSession._isRetryableError,
 * pi 0.73.1): its agent_end reaches extensions *before* Pi decides, so an
 * error it will retry must not end the turn here. Mirrored: the same words,
 * `retry.enabled` (default true) and `retry.maxRetries` (default 3) from
 * the agent dir's and the project's settings.json, the attempts counted as
 * Pi counts them (reset by an answer that is not an error).
 */
const RETRYABLE =
  /overloaded|provider.?returned.?error|rate.?limit|too many requests|429|500|502|503|504|service.?unavailable|server.?error|internal.?error|network.?error|connection.?error|connection.?refused|connection.?lost|websocket.?closed|websocket.?error|other side closed|fetch failed|upstream.?connect|reset before headers|socket hang up|ended without|http2 request did not get a response|timed? out|timeout|terminated|retry delay/i;
/** A context overflow is not retried but compacted, then the prompt goes again (once per prompt). */
const OVERFLOW =
  /prompt is too long|request_too_large|exceeds the context window|context[_ ]length[_ ]exceeded|maximum context length|too many tokens|token limit exceeded/i;

interface RetrySettings {
  enabled: boolean;
  maxRetries: number;
  baseDelayMs: number;
  compaction: boolean;
}

function readJson(path: string): any {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return {};
  }
}

function retrySettings(cwd: string): RetrySettings {
  const agentDir = process.env.PI_CODING_AGENT_DIR || join(homedir(), ".pi", "agent");
  const global = readJson(join(agentDir, "settings.json"));
  const project = readJson(join(cwd, ".pi", "settings.json"));
  const pick = (f: (s: any) => unknown, dflt: any) => f(project) ?? f(global) ?? dflt;
  return {
    enabled: pick((s) => s?.retry?.enabled, true) !== false,
    maxRetries: Number(pick((s) => s?.retry?.maxRetries, 3)),
    baseDelayMs: Number(pick((s) => s?.retry?.baseDelayMs, 2000)),
    compaction: pick((s) => s?.compaction?.enabled, true) !== false,
  };
}

/** What Pi does after an errored agent_end: retry after `delayMs`, or nothing. */
const retry = { attempts: 0, overflowTried: false, watchdog: undefined as ReturnType<typeof setTimeout> | undefined };

/** How long Pi may take past its backoff before a retry counts as never coming. */
const RETRY_GRACE_MS = 3000;
/** Compaction asks the model for a summary first. */
const OVERFLOW_GRACE_MS = 120_000;

function willRetry(errorMessage: string, ctx: PiContext): number | null {
  const s = retrySettings(ctx.cwd);
  if (OVERFLOW.test(errorMessage) && !/rate limit|too many requests/i.test(errorMessage)) {
    if (!s.compaction || retry.overflowTried) return null;
    retry.overflowTried = true;
    return OVERFLOW_GRACE_MS;
  }
  if (!s.enabled || !RETRYABLE.test(errorMessage)) return null;
  retry.attempts++;
  if (retry.attempts > s.maxRetries) {
    retry.attempts = 0;
    return null;
  }
  return s.baseDelayMs * 2 ** (retry.attempts - 1) + RETRY_GRACE_MS;
}

/** The stop for the agent run `messages` ended, or null when Pi goes on (a retry). */
function stopFor(messages: unknown, ctx: PiContext): Record<string, unknown> | null {
  const last = Array.isArray(messages) ? [...messages].reverse().find((m) => m?.role === "assistant") : undefined;
  if (last?.stopReason === "aborted") return { event: "stop", reason: "interrupted" };
  if (last?.stopReason !== "error") return { event: "stop" };
  const error = { event: "stop", reason: "failed", error: failureOf(last.errorMessage) };
  const wait = willRetry(String(last.errorMessage ?? ""), ctx);
  if (wait === null) return error;
  // Escape during Pi's backoff cancels the retry with no agent_end: if no
  // retry has begun by then, the turn ended with this error.
  retry.watchdog = setTimeout(() => {
    retry.attempts = 0;
    record(ctx, error);
  }, wait);
  retry.watchdog.unref?.();
  return null;
}

export default function csd(pi: PiApi): void {
  if (workerFromEnv() === null) return;

  pi.on("session_start", (event, ctx) => {
    try {
      const w = workerFromEnv();
      const sid = sessionId(ctx);
      if (w === null || sid === null) return;
      // Written at every start, so the meta follows the session file Pi is on now.
      if (register(w, sid, ctx) && event?.reason !== "startup") dropOldSessions(w, sid);
    } catch {}
    record(ctx, { event: "session_start", cwd: ctx.cwd });
  });

  pi.on("input", (event, ctx) => {
    // Every prompt starts with Pi's retry count at 0: an answer, giving up
    // and a cancelled retry all reset it.
    retry.attempts = 0;
    // rpc and extension input is machinery, not a prompt given to the worker.
    if (event?.source === "interactive") record(ctx, { event: "user_prompt_submit" });
  });

  pi.on("tool_call", (event, ctx) => {
    const input = event?.input !== null && typeof event?.input === "object" ? event.input : {};
    record(ctx, { event: "pre_tool_use", tool: toolName(event?.toolName), tool_input: input });
  });

  pi.on("tool_result", (event, ctx) => {
    record(ctx, { event: "post_tool_use", tool: toolName(event?.toolName) });
  });

  pi.on("agent_start", () => {
    // A retry (or the prompt again after compaction) began: the turn goes on.
    clearTimeout(retry.watchdog);
  });

  pi.on("message_end", (event) => {
    const m = event?.message;
    if (m?.role === "user") retry.overflowTried = false;
    if (m?.role === "assistant" && m?.stopReason !== "error") retry.attempts = 0;
  });

  pi.on("agent_end", (event, ctx) => {
    let stop: Record<string, unknown> | null = { event: "stop" };
    try {
      stop = stopFor(event?.messages, ctx);
    } catch {}
    if (stop !== null) record(ctx, stop);
  });

  pi.on("session_shutdown", (event, ctx) => {
    // Shutdown also precedes /new, /resume, /fork and /reload; only quit ends the worker.
    if (event?.reason === "quit") record(ctx, { event: "session_end" });
  });
}
