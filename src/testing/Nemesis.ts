/**
 * The real-process nemesis: `nodes` `flotilla start` processes over their own nats-server
 * (ProcessCluster), a KV keyspace, `clients` concurrent clients sending get, put and cas through
 * the KV gateway and recording a history, and faults from a seeded schedule (NemesisSchedule.ts):
 * kill -9 and restart, SIGSTOP then SIGCONT, nats-server restart, kill -9 of the node leading the
 * most groups. At the end every fault is healed, each key is read back, and the run is judged:
 *
 * - the history (final reads included) is linearizable (`casModel`, Linearizability.ts);
 * - no acknowledged write is lost (NemesisHistory.ts `lostWrites`);
 * - no node logged a dead loop (`loop <name> died: <cause>`, the supervision policy's line) or
 *   exited without being killed.
 *
 * It also reports each fault's recovery time (heal → first successful operation). The seed and a
 * one-line replay command are in the summary; the same seed replays the same schedule and the
 * same random choices of the clients (the timing of real processes still varies, and with it
 * what the clients read).
 */

import {
  type CasInput,
  type CasOutput,
  casModel,
  checkLinearizable,
  describeFailure,
  describeHistory,
  type Operation,
} from "./Linearizability.js"
import {
  classifyReply,
  type FaultRecord,
  lostWrites,
  type Outcome,
  quantile,
  recoveryTimes,
} from "./NemesisHistory.js"
import { FAULT_KINDS, type FaultKind, planFaults, seededRandom } from "./NemesisSchedule.js"
import { ProcessCluster } from "./ProcessCluster.js"

export interface NemesisOptions {
  readonly seed: number
  readonly nodes: number
  /** Length of the workload; faults stop `settleMs` before its end. */
  readonly seconds: number
  readonly clients?: number
  readonly keys?: number
  readonly shards?: number
  readonly kinds?: ReadonlyArray<FaultKind>
  /** Fault-free time at the end of the workload (default 5 s). */
  readonly settleMs?: number
  /** Extra `flotilla start` flags for every node. */
  readonly nodeArgs?: readonly string[]
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void
}

/** One fault of the run with its recovery time. */
export interface FaultSummary extends FaultRecord {
  readonly durationMs: number
  readonly recoveryMs: number | null
}

export interface NemesisSummary {
  readonly nemesis: "kv"
  readonly seed: number
  readonly nodes: number
  readonly seconds: number
  readonly clients: number
  readonly ops: { readonly ok: number; readonly failed: number; readonly unknown: number }
  readonly verdict: "linearizable" | "not linearizable" | "inconclusive"
  readonly acknowledgedWritesLost: number
  readonly unreadKeys: number
  readonly recovery: Record<
    string,
    { count: number; p50Ms?: number; p90Ms?: number; maxMs?: number; unrecovered: number }
  >
  readonly faults: ReadonlyArray<FaultSummary>
  readonly deadLoops: readonly string[]
  readonly unexpectedExits: readonly string[]
  /** True when the run found no violation. */
  readonly passed: boolean
  readonly replay: string
}

/** A violation's details that do not fit the summary line (the offending history part). */
export interface NemesisResult {
  readonly summary: NemesisSummary
  readonly details: readonly string[]
}

export const DEFAULT_CLIENTS = 8
export const DEFAULT_KEYS = 24

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)))

/** The dead-loop lines of a node's output (the supervision policy's `loop <name> died:`). */
export const deadLoopLines = (output: string): string[] =>
  output.split("\n").filter((line) => line.includes("loop ") && line.includes(" died:"))

/** The replay command of a run. */
export const replayCommand = (o: NemesisOptions): string =>
  `npm run nemesis -- --seed ${o.seed} --seconds ${o.seconds} --nodes ${o.nodes}` +
  (o.clients !== undefined && o.clients !== DEFAULT_CLIENTS ? ` --clients ${o.clients}` : "") +
  (o.keys !== undefined && o.keys !== DEFAULT_KEYS ? ` --keys ${o.keys}` : "") +
  (o.kinds !== undefined ? ` --faults ${o.kinds.join(",")}` : "")

class Recorder {
  readonly history: Operation<CasInput, CasOutput>[] = []
  readonly counts: Record<Outcome, number> = { ok: 0, fail: 0, unknown: 0 }
  private readonly t0 = performance.now()

  constructor(private readonly cluster: ProcessCluster) {}

  now(): number {
    return performance.now() - this.t0
  }

  /** Sends `input` to the gateway and records the outcome. */
  async run(client: number, input: CasInput): Promise<{ outcome: Outcome; output?: CasOutput }> {
    const body =
      input.op === "get"
        ? { op: "get", key: input.key, timeoutMs: 2000 }
        : input.op === "put"
          ? { op: "put", key: input.key, value: input.value, timeoutMs: 2000 }
          : { op: "cas", key: input.key, expected: input.expected, value: input.value, timeoutMs: 2000 }
    const invokedAt = this.now()
    const raw = await this.cluster.request(
      `flotilla.${this.cluster.cluster}.kv`,
      encoder.encode(JSON.stringify(body)),
      3000,
    )
    let reply: Record<string, unknown> | undefined
    try {
      reply = raw === undefined ? undefined : (JSON.parse(decoder.decode(raw)) as Record<string, unknown>)
    } catch {
      reply = undefined
    }
    const r = classifyReply(input, reply)
    this.counts[r.outcome]++
    if (r.outcome === "ok")
      this.history.push({ client, input, output: r.output, invokedAt, completedAt: this.now() })
    else if (r.outcome === "unknown")
      this.history.push({
        client,
        input,
        output: undefined,
        invokedAt,
        completedAt: Number.POSITIVE_INFINITY,
      })
    return r
  }
}

/** How long a client waits after an operation that got no answer. */
const UNKNOWN_BACKOFF_MS = 50

/** One client's loop: read a key, then swap in a value of its own, sometimes overwrite. */
const clientLoop = async (rec: Recorder, id: number, seed: number, keys: number, stop: () => boolean) => {
  const random = seededRandom(seed * 7919 + id)
  // After an operation with no answer, the client waits a little before the next, as a real
  // client backs off: while the bus is down a request fails at once, and a client spinning
  // then fills the history with operations of unknown outcome (each a branch of the check).
  const run = async (input: CasInput) => {
    const r = await rec.run(id, input)
    if (r.outcome === "unknown") await sleep(UNKNOWN_BACKOFF_MS)
    return r
  }
  for (let i = 0; !stop(); i++) {
    const key = `n${Math.floor(random() * keys)}`
    const value = `c${id}-${i}`
    const dice = random()
    if (dice < 0.15) {
      await run({ op: "put", key, value })
      continue
    }
    const read = await run({ op: "get", key })
    if (dice < 0.4 || read.output === undefined || !("value" in read.output)) continue
    await run({ op: "cas", key, expected: read.output.value, value })
  }
}

/** The node whose replicas lead the most groups (undefined when no node answers). */
const busiestLeader = async (cluster: ProcessCluster, up: number[]): Promise<number | undefined> => {
  let best: { node: number; leaders: number } | undefined
  for (const node of up) {
    const s = await cluster.status(node)
    if (s === undefined) continue
    const leaders = s.groups.filter((g) => g.isLeader).length
    if (best === undefined || leaders > best.leaders) best = { node, leaders }
  }
  return best?.node
}

/** Runs the faults of the schedule until `windowMs`; resolves with what happened. */
const runFaults = async (
  cluster: ProcessCluster,
  rec: Recorder,
  o: NemesisOptions,
  windowMs: number,
  kills: Map<number, number>,
  restartFailures: string[],
): Promise<Array<FaultRecord & { durationMs: number }>> => {
  const log = o.log ?? (() => {})
  const done: Array<FaultRecord & { durationMs: number }> = []
  const all = cluster.nodes.map((_, i) => i + 1)
  const kinds = o.kinds ?? FAULT_KINDS
  // Planned past the window: the runner decides when to stop (real faults take longer to heal).
  const plan = planFaults({ seed: o.seed, nodes: o.nodes, faultWindowMs: windowMs + 120_000, kinds })
  for (const f of plan) {
    await sleep(f.gapMs)
    // Past the window, only kinds not yet seen still start: each run sees every kind it asks for.
    if (rec.now() >= windowMs && done.some((d) => d.kind === f.kind)) {
      if (kinds.every((k) => done.some((d) => d.kind === k))) break
      continue
    }
    let node = f.node
    if (f.kind === "leaderkill") node = (await busiestLeader(cluster, all)) ?? 1
    const startedAt = rec.now()
    log(
      `fault ${f.kind}${node > 0 ? ` node ${node}` : ""} for ${f.durationMs} ms at ${Math.round(startedAt)} ms`,
    )
    switch (f.kind) {
      case "kill":
      case "leaderkill":
        kills.set(node, (kills.get(node) ?? 0) + 1)
        await cluster.node(node).kill("SIGKILL")
        await sleep(f.durationMs)
        await cluster
          .node(node)
          .start()
          .catch((e: unknown) => {
            restartFailures.push(
              `node ${node} did not restart: ${e instanceof Error ? e.message : String(e)}`,
            )
          })
        break
      case "pause":
        cluster.node(node).signal("SIGSTOP")
        await sleep(f.durationMs)
        cluster.node(node).signal("SIGCONT")
        break
      case "natsrestart":
        await cluster.nats.stop()
        await sleep(f.durationMs)
        await cluster.nats.start()
        break
    }
    done.push({ kind: f.kind, node, startedAt, healedAt: rec.now(), durationMs: f.durationMs })
  }
  return done
}

/** Reads every key back (retrying until a definite answer); the final values. */
const readBack = async (
  rec: Recorder,
  keys: number,
  deadline: number,
): Promise<Map<string, string | null>> => {
  const finals = new Map<string, string | null>()
  for (let k = 0; k < keys; k++) {
    const key = `n${k}`
    while (rec.now() < deadline) {
      const r = await rec.run(-1, { op: "get", key })
      if (r.output !== undefined && "value" in r.output) {
        finals.set(key, r.output.value)
        break
      }
      await sleep(200)
    }
  }
  return finals
}

const recoverySummary = (faults: ReadonlyArray<FaultSummary>): NemesisSummary["recovery"] => {
  const out: Record<
    string,
    { count: number; p50Ms?: number; p90Ms?: number; maxMs?: number; unrecovered: number }
  > = {}
  for (const kind of new Set(faults.map((f) => f.kind))) {
    const of = faults.filter((f) => f.kind === kind)
    const times = of.flatMap((f) => (f.recoveryMs === null ? [] : [f.recoveryMs]))
    out[kind] = {
      count: of.length,
      p50Ms: quantile(times, 0.5),
      p90Ms: quantile(times, 0.9),
      maxMs: quantile(times, 1),
      unrecovered: of.length - times.length,
    }
  }
  return out
}

/** Runs the nemesis; never throws for a violation (see `summary.passed`), only for a set-up failure. */
export const runNemesis = async (o: NemesisOptions): Promise<NemesisResult> => {
  const log = o.log ?? (() => {})
  const clients = o.clients ?? DEFAULT_CLIENTS
  const keys = o.keys ?? DEFAULT_KEYS
  const settleMs = o.settleMs ?? 5000
  log(
    `nemesis seed ${o.seed}: ${o.nodes} nodes, ${o.seconds} s, ${clients} clients; replay: ${replayCommand(o)}`,
  )
  const cluster = await ProcessCluster.start({ nodes: o.nodes, managed: {}, nodeArgs: o.nodeArgs })
  try {
    const created = await cluster.meta({ _tag: "CreateKeyspace", name: "kv", shards: o.shards ?? 4 })
    if (created._tag !== "KeyspaceCreated")
      throw new Error(`CreateKeyspace answered ${JSON.stringify(created)}`)
    const rec = new Recorder(cluster)
    await cluster.waitFor("every key to be served", async () => {
      for (let k = 0; k < keys; k++) {
        const r = await cluster.request(
          `flotilla.${cluster.cluster}.kv`,
          JSON.stringify({ op: "get", key: `n${k}`, timeoutMs: 1000 }),
          2000,
        )
        if (r === undefined || (JSON.parse(decoder.decode(r)) as { ok?: boolean }).ok !== true)
          return undefined
      }
      return true
    })
    log("cluster ready; workload and faults start")
    const t0 = rec.now()
    const endAt = t0 + o.seconds * 1000
    let stopping = false
    const workload = Promise.all(
      Array.from({ length: clients }, (_, id) => clientLoop(rec, id, o.seed, keys, () => stopping)),
    )
    const kills = new Map<number, number>()
    const restartFailures: string[] = []
    const faults = await runFaults(cluster, rec, o, endAt - settleMs, kills, restartFailures)
    // A fault that had to run past the window gets its settle time too.
    await sleep(Math.max(endAt, (faults.at(-1)?.healedAt ?? 0) + settleMs) - rec.now())
    stopping = true
    await workload
    log("workload stopped; reading every key back")
    const finals = await readBack(rec, keys, rec.now() + 60_000)

    const recovery = recoveryTimes(rec.history, faults)
    const faultSummaries: FaultSummary[] = faults.map((f, i) => ({
      ...f,
      startedAt: Math.round(f.startedAt),
      healedAt: Math.round(f.healedAt),
      recoveryMs: recovery[i] === undefined ? null : Math.round(recovery[i]!),
    }))
    const details: string[] = []
    const check = checkLinearizable(casModel, rec.history, undefined, { witness: true })
    if (check.ok === false) details.push(`not linearizable: ${describeFailure(check)}`)
    if (check.ok === "unknown") details.push(`linearizability check inconclusive: ${check.reason}`)
    const { lost, unread } = lostWrites(rec.history, finals)
    if (lost.length > 0) details.push(`acknowledged writes lost:\n${describeHistory(lost)}`)
    const deadLoops: string[] = []
    const unexpectedExits: string[] = [...restartFailures]
    cluster.nodes.forEach((n, i) => {
      for (const line of deadLoopLines(n.allLogs())) deadLoops.push(`node ${i + 1}: ${line.trim()}`)
      const killed = kills.get(i + 1) ?? 0
      if (n.exits.length > killed || !n.running)
        unexpectedExits.push(
          `node ${i + 1}: ${n.exits.length} exits for ${killed} kills${n.running ? "" : ", not running at the end"} (${JSON.stringify(n.exits)})`,
        )
    })
    const verdict =
      check.ok === true ? "linearizable" : check.ok === false ? "not linearizable" : "inconclusive"
    const summary: NemesisSummary = {
      nemesis: "kv",
      seed: o.seed,
      nodes: o.nodes,
      seconds: o.seconds,
      clients,
      ops: { ok: rec.counts.ok, failed: rec.counts.fail, unknown: rec.counts.unknown },
      verdict,
      acknowledgedWritesLost: lost.length,
      unreadKeys: unread.length,
      recovery: recoverySummary(faultSummaries),
      faults: faultSummaries,
      deadLoops,
      unexpectedExits,
      passed:
        verdict === "linearizable" &&
        lost.length === 0 &&
        unread.length === 0 &&
        deadLoops.length === 0 &&
        unexpectedExits.length === 0,
      replay: replayCommand(o),
    }
    return { summary, details }
  } finally {
    await cluster.close()
  }
}
