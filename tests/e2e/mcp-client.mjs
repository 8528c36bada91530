// A controller as an MCP client sees csd-mcp: the official TypeScript SDK
// (pinned in package.json) drives it over stdio. tests/mcp.rs runs this in
// a world it made (a mock model, a private worker dir and tmux server) and
// reads the one JSON document it prints on stdout; any failed check throws
// (exit 1, why on stderr).
//
//   CSD_MCP=path/to/csd-mcp PROJECT=dir node mcp-client.mjs
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import fs from "node:fs";

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const TOOLS = [
  "launch", "send", "converse", "answer", "wait", "read_turn", "read_events",
  "status", "list", "diff", "stop", "handoff",
];
const BINARY = {
  launch: "csd-launch", send: "csd-send", converse: "csd-send", answer: "csd-send",
  wait: "csd-wait", read_turn: "csd-turn", read_events: "csd-events", status: "csd-status",
  list: "csd-status", diff: "csd-status", stop: "csd-stop", handoff: "csd-stop",
};

const transport = new StdioClientTransport({
  command: process.env.CSD_MCP,
  args: [],
  env: process.env,
  stderr: "inherit",
});
const client = new Client({ name: "csd-e2e", version: "1" });
await client.connect(transport);
const report = {};

// Notifications: when each came, and the log lines.
const updates = [];
const logs = [];
client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
  updates.push({ uri: n.params.uri, at: now() });
});
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
  logs.push(n.params);
});

async function tool(name, args, opts = {}) {
  return client.callTool({ name, arguments: args }, undefined, opts);
}
async function ok(name, args, opts) {
  const r = await tool(name, args, opts);
  check(!r.isError, `${name} ${JSON.stringify(args)} failed: ${JSON.stringify(r.content)}`);
  return r.structuredContent;
}

// 1. The tools and their schemas.
const { tools } = await client.listTools();
const names = tools.map((t) => t.name).sort();
check(JSON.stringify(names) === JSON.stringify([...TOOLS].sort()), `tools: ${names}`);
for (const t of tools) {
  check(t.inputSchema.type === "object", `${t.name}: input schema`);
  check(t.outputSchema && t.outputSchema.type === "object", `${t.name}: output schema`);
  check(t.description.includes(`Usage: ${BINARY[t.name]}`), `${t.name}: description is not ${BINARY[t.name]}'s help`);
}
const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
check(byName.wait.inputSchema.properties.after_line.description.includes("--after-line"), "wait: after_line");
check(byName.launch.inputSchema.properties.host, "launch: host");
check(byName.launch.inputSchema.properties.harness.enum.includes("pi"), "launch: harnesses");
report.tools = names;

// 2. A failure is a tool error with the CLI's message and exit status.
const missing = await tool("status", { worker: "nobody" });
check(missing.isError, "status of nobody is an error");
check(/no worker known as 'nobody' \(exit status 3: no such worker\)/.test(missing.content[0].text), missing.content[0].text);
const bad = await tool("wait", {});
check(bad.isError && /exit status 2/.test(bad.content[0].text), `wait {}: ${JSON.stringify(bad)}`);
report.error = missing.content[0].text;
let refused = false;
try {
  await client.subscribeResource({ uri: "csd://worker/nobody" });
} catch (e) {
  refused = /no worker known as 'nobody'/.test(String(e));
}
check(refused, "subscribing to a worker that is not there is refused");

// 3. Launch, subscribe, converse.
const launched = await ok("launch", { name: "mcpw", cwd: process.env.PROJECT });
check(launched.shim.endsWith("/bin/mcpw"), `shim ${launched.shim}`);
const uri = "csd://worker/mcpw";
const { resources } = await client.listResources();
check(resources.some((r) => r.uri === uri), `resources: ${JSON.stringify(resources)}`);
await client.subscribeResource({ uri });
const status = await ok("status", { worker: "mcpw" });
check(status.status === "idle", `status ${status.status}`);
const eventsFile = status.events;
const reply = await ok("converse", { worker: "mcpw", prompt: "say: hello from mcp", timeout: 60 });
check(reply.reply.includes("hello from mcp"), `reply ${JSON.stringify(reply)}`);

// The event log, watched here (inotify) to time what csd-mcp does.
function watchFor(kind) {
  let seen = fs.readFileSync(eventsFile, "utf8").split("\n").length;
  return new Promise((resolve) => {
    const w = fs.watch(eventsFile, () => {
      const lines = fs.readFileSync(eventsFile, "utf8").split("\n");
      for (const l of lines.slice(seen - 1)) {
        if (l.includes(`"event":"${kind}"`)) {
          w.close();
          return resolve(now());
        }
      }
      seen = lines.length;
    });
  });
}
async function updateAfter(t) {
  for (let i = 0; i < 500; i++) {
    const u = updates.find((u) => u.at >= t && u.uri === uri);
    if (u) return u.at;
    await sleep(10);
  }
  throw new Error("no resources/updated after the turn ended");
}

// 4. send (the receipt) -> prompt latency; turn end -> resources/updated.
const promptLatency = [];
const updateLatency = [];
for (let i = 0; i < 5; i++) {
  const submitted = watchFor("user_prompt_submit");
  const stopped = watchFor("stop");
  const t0 = now();
  const sent = await ok("send", { worker: "mcpw", prompt: `say: round ${i}` });
  check(Number.isInteger(sent.receipt), `receipt ${JSON.stringify(sent)}`);
  promptLatency.push((await submitted) - t0);
  const tEnd = await stopped;
  updateLatency.push((await updateAfter(tEnd)) - tEnd);
  await ok("wait", { worker: "mcpw", after_line: sent.receipt, timeout: 60 });
}
report.prompt_latency_ms = { median: median(promptLatency), all: promptLatency };
report.update_latency_ms = { median: median(updateLatency), all: updateLatency };

// 5. A wait that takes a while sends progress, and does not hold up other calls.
const slow = await ok("send", { worker: "mcpw", prompt: "wait: 5\nsay: slow turn" });
const progress = [];
const waiting = ok("wait", { worker: "mcpw", after_line: slow.receipt, timeout: 60 }, {
  onprogress: (p) => progress.push(p),
});
const tStatus = now();
const during = await ok("status", { worker: "mcpw" });
report.status_during_wait_ms = now() - tStatus;
check(during.status === "working", `status during the slow turn: ${during.status}`);
const waited = await waiting;
check(waited.event && waited.event.event === "stop", `wait: ${JSON.stringify(waited)}`);
check(progress.length >= 1, `progress during a 5 s wait: ${progress.length}`);
report.progress_notifications = progress.length;

// Two workers conversed with at once: each call on its own task, so the
// two 3 s turns overlap (one after the other would take over 6 s).
await ok("launch", { name: "mcpw2", cwd: process.env.PROJECT });
const tPair = now();
const pair = await Promise.all([
  ok("converse", { worker: "mcpw", prompt: "wait: 3\nsay: first of two" }),
  ok("converse", { worker: "mcpw2", prompt: "wait: 3\nsay: second of two" }),
]);
report.two_converses_ms = now() - tPair;
check(pair[0].reply.includes("first of two") && pair[1].reply.includes("second of two"), JSON.stringify(pair));
check(report.two_converses_ms < 5500, `two 3 s converses took ${report.two_converses_ms} ms: they did not overlap`);
await ok("stop", { worker: "mcpw2" });

// 6. A cancelled wait ends at once; the worker runs on and finishes its turn.
const slower = await ok("send", { worker: "mcpw", prompt: "wait: 6\nsay: slower turn" });
const abort = new AbortController();
const cancelled = tool("wait", { worker: "mcpw", after_line: slower.receipt, timeout: 60 }, { signal: abort.signal });
// The csd-wait processes waiting on mcpw.
function csdWaits() {
  return fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
      return argv[0].endsWith("/csd-wait") && argv.includes("mcpw");
    } catch {
      return false;
    }
  });
}
await sleep(1000);
check(csdWaits().length === 1, "the wait runs a csd-wait");
const tAbort = now();
abort.abort();
let rejected = false;
try {
  await cancelled;
} catch {
  rejected = true;
}
check(rejected, "a cancelled wait rejects");
report.cancel_ms = now() - tAbort;
// Its csd-wait got SIGTERM: gone within a second.
let left = csdWaits();
for (let i = 0; i < 100 && left.length; i++) {
  await sleep(10);
  left = csdWaits();
}
check(left.length === 0, `csd-wait still runs after the cancel: ${left}`);
const still = await ok("status", { worker: "mcpw" });
check(still.status === "working", `after the cancel the worker still works: ${still.status}`);
const finished = await ok("wait", { worker: "mcpw", after_line: slower.receipt, timeout: 60 });
check(finished.event.event === "stop", "the cancelled turn ends");
const turn = await ok("read_turn", { worker: "mcpw" });
check(turn.markdown.includes("slower turn"), `turn: ${turn.markdown}`);

// 7. Many workers' waits, the event log, the list, the log messages.
const fleet = await ok("wait", { all: ["mcpw"], timeout: 10 });
check(fleet.workers[0].worker === "mcpw" && fleet.workers[0].how === "idle", JSON.stringify(fleet));
const evs = await ok("read_events", { worker: "mcpw", type: "stop", last: 2 });
check(evs.events.length === 2 && evs.events.every((e) => e.event === "stop"), JSON.stringify(evs));
const list = await ok("list", {});
check(list.workers.some((w) => w.name === "mcpw"), JSON.stringify(list));
check(logs.some((l) => l.logger === "csd/mcpw" && l.data.event === "stop"), `log messages: ${logs.length}`);
const res = await client.readResource({ uri });
const body = JSON.parse(res.contents[0].text);
check(body.status.status === "idle" && body.last_turn.includes("slower turn"), res.contents[0].text);

// A question: converse ends blocked (a tool error, exit status 6), answer
// picks option 2, and the turn goes on to its end.
const asked = await tool("converse", { worker: "mcpw", prompt: "Pick one.\nask: Which color? | Red | Green | Blue", timeout: 60 });
check(asked.isError && /exit status 6: the worker is blocked/.test(asked.content[0].text), JSON.stringify(asked));
check((await ok("status", { worker: "mcpw" })).status === "blocked", "blocked status");
const logged = (await ok("read_events", { worker: "mcpw" })).events.length;
const answered = await ok("answer", { worker: "mcpw", choices: [2] });
check(typeof answered.message === "string", JSON.stringify(answered));
const resumed = await ok("wait", { worker: "mcpw", after_line: logged, timeout: 60 });
check(resumed.event.event === "stop" && !resumed.event.reason, JSON.stringify(resumed));
check((await ok("read_turn", { worker: "mcpw" })).markdown.includes("Green"), "the answer is in the turn");
report.answered = true;

// 8. Stop.
const stopped = await ok("stop", { worker: "mcpw" });
check(/stopped/.test(stopped.message), stopped.message);
await client.close();
console.log(JSON.stringify(report));
