/**
 * What a runtime simulation (RuntimeSim.ts) observes of its nodes and checks: each group's
 * agreed leader, every replica's status and state, convergence (replicas that applied the same
 * committed log hold the same state), the client history against the converged states, and a
 * fingerprint of the whole cluster for replay checks.
 *
 * Everything here reads the running nodes' services; effects that wait on the cluster run
 * inside the simulation (`driver.run`), and polling moves virtual time in steps of `POLL_MS`.
 */
import { Data, Effect, Option } from "effect"
import { GroupId, NodeId } from "../raft/Ids.js"
import type { GroupStatus } from "../runtime/Node.js"
import { type ChecksumClient, checkHistory, type MachineState } from "./ChecksumClient.js"
import { POLL_MS, type SimDriver, SimTimeout } from "./RuntimeSimDriver.js"
import type { SimNodes, SimSlot } from "./RuntimeSimNodes.js"

/** Replicas of a group applied the same log prefix but hold different states: a safety bug. */
export class Divergence extends Data.TaggedError("Divergence")<{
  readonly group: number
  readonly message: string
}> {}

/** A check on the run failed (`check`, `verify`). */
export class SimCheckFailed extends Data.TaggedError("SimCheckFailed")<{ readonly message: string }> {}

/** One node's replica of a group, for comparisons. */
export interface ReplicaView {
  readonly node: NodeId
  readonly status: GroupStatus
  /** The state machine's answer to an empty stale query (`ChecksumMachine`: its JSON state). */
  readonly reply: string
  /** `reply` parsed, when it is a `ChecksumMachine` state. */
  readonly state: MachineState | undefined
}

/** Which groups, on which nodes, and how long to wait. */
export interface ConvergeOptions {
  readonly groups: ReadonlyArray<number>
  readonly nodes?: ReadonlyArray<number>
  readonly timeoutMs?: number
}

/** What the checks read. */
export interface SimView {
  readonly driver: SimDriver
  readonly nodes: SimNodes<SimSlot, unknown>
  readonly nodeIds: ReadonlyArray<NodeId>
  readonly groupIds: ReadonlyArray<GroupId>
}

/**
 * The node leading the most groups (the lowest id on ties) and the groups it leads, from
 * `waitForLeaders`: the victim that hurts most when crashed or cut off.
 */
export const busiestLeader = (leaders: ReadonlyMap<number, NodeId>): { victim: NodeId; led: number[] } => {
  const count = new Map<NodeId, number>()
  for (const n of leaders.values()) count.set(n, (count.get(n) ?? 0) + 1)
  const victim = [...count.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]![0]
  const led = [...leaders.entries()].filter(([, n]) => n === victim).map(([g]) => g)
  return { victim, led }
}

const decoder = new TextDecoder()
const EMPTY = new Uint8Array(0)

const parseState = (reply: string): MachineState | undefined => {
  try {
    const v = JSON.parse(reply) as { count?: unknown; checksum?: unknown }
    return typeof v.count === "number" && typeof v.checksum === "number"
      ? { count: v.count, checksum: v.checksum }
      : undefined
  } catch {
    return undefined
  }
}

/** The running nodes among `nodes` (default: every node). */
const running = (view: SimView, nodes: ReadonlyArray<number> | undefined): NodeId[] =>
  (nodes ?? view.nodeIds).map((n) => NodeId(n)).filter(view.nodes.isUp)

const nodeService = (view: SimView, n: NodeId) => view.nodes.slotOf(n).current!.node

/** Each group's leader where every running member among `among` names the same leading node. */
export const leaders = (
  view: SimView,
  options?: { readonly groups?: ReadonlyArray<number>; readonly among?: ReadonlyArray<number> },
) =>
  Effect.gen(function* () {
    const among = running(view, options?.among)
    const views = new Map<NodeId, Map<number, GroupStatus>>()
    for (const n of among) {
      const st = yield* nodeService(view, n).groups
      views.set(n, new Map(st.map((g) => [g.groupId as number, g])))
    }
    const out = new Map<number, NodeId | undefined>()
    for (const g of options?.groups ?? view.groupIds) {
      let agreed: NodeId | undefined
      let ok = true
      let hosts = 0
      for (const n of among) {
        const st = views.get(n)!.get(g)
        if (st === undefined) continue
        hosts++
        const l = st.leaderNode
        if (l === undefined || (agreed !== undefined && l !== agreed)) ok = false
        agreed = l
      }
      const leaderView = agreed === undefined ? undefined : views.get(agreed)?.get(g)
      out.set(g, ok && hosts > 0 && leaderView?.isLeader === true ? agreed : undefined)
    }
    return out
  })

/** Waits until every group has an agreed leader among `among`. */
export const waitForLeaders = (
  view: SimView,
  options?: {
    readonly groups?: ReadonlyArray<number>
    readonly among?: ReadonlyArray<number>
    readonly timeoutMs?: number
  },
) =>
  Effect.gen(function* () {
    const groups = options?.groups ?? view.groupIds
    const among = options?.among
    let found = new Map<number, NodeId>()
    yield* view.driver.until(
      `a leader in ${groups.length} group(s)${among === undefined ? "" : ` among nodes ${among.join(",")}`}`,
      Effect.map(leaders(view, { groups, among }), (m) => {
        const out = new Map<number, NodeId>()
        for (const [g, l] of m) {
          if (l === undefined || (among !== undefined && !among.includes(l))) return false
          out.set(g, l)
        }
        found = out
        return true
      }),
      { timeoutMs: options?.timeoutMs ?? 60_000 },
    )
    return found
  })

/** The group's replica on every running node that hosts it (status and stale state). */
export const replicas = (view: SimView, group: number, nodes?: ReadonlyArray<number>) =>
  view.driver.run(
    Effect.gen(function* () {
      const out: ReplicaView[] = []
      for (const n of running(view, nodes)) {
        const node = nodeService(view, n)
        const st = yield* node.status(GroupId(group))
        if (Option.isNone(st)) continue
        const r = yield* Effect.either(node.read(GroupId(group), EMPTY, { stale: true }))
        const reply = r._tag === "Right" ? decoder.decode(r.right) : `error: ${r.left._tag}`
        out.push({ node: n, status: st.value, reply, state: parseState(reply) })
      }
      return out
    }),
    { what: `reading group ${group}` },
  )

/** `commit/applied/last` when every replica on `nodes` applied all it committed and they agree. */
const settledStatus = (view: SimView, group: number, nodes: ReadonlyArray<NodeId>) =>
  Effect.gen(function* () {
    const key: string[] = []
    for (const n of nodes) {
      const st = yield* nodeService(view, n).status(GroupId(group))
      if (Option.isNone(st) || st.value.stopped !== undefined) return undefined
      const s = st.value
      if (s.applied !== s.commit) return undefined
      key.push(`${s.commit}/${s.applied}/${s.lastIndex}`)
    }
    return new Set(key).size === 1 ? key[0] : undefined
  })

/** The group's converged state: undefined while not settled, `Divergence` if replicas differ. */
const convergedState = (view: SimView, g: number, nodes: ReadonlyArray<NodeId>) =>
  Effect.gen(function* () {
    const key = yield* settledStatus(view, g, nodes)
    if (key === undefined) return { settled: false as const }
    const views = yield* replicas(view, g, nodes)
    if ((yield* settledStatus(view, g, nodes)) !== key) return { settled: false as const }
    const replies = new Set(views.map((v) => v.reply))
    if (replies.size !== 1)
      return yield* new Divergence({
        group: g,
        message: `group ${g}: replicas applied the same log (commit/applied/last ${key}) but differ: ${views.map((v) => `node ${v.node}: ${v.reply}`).join("; ")}`,
      })
    return { settled: true as const, state: views[0]?.state }
  })

/**
 * Waits until the groups' replicas on `nodes` (default: running nodes) have applied the same
 * committed log, then compares their states: `Divergence` if they differ. Each group's state.
 */
export const waitConverged = (view: SimView, options: ConvergeOptions) =>
  Effect.gen(function* () {
    const nodes = running(view, options.nodes)
    const out = new Map<number, MachineState>()
    const limit = options.timeoutMs ?? 60_000
    const start = view.driver.now()
    let pending = [...options.groups]
    for (;;) {
      const still: number[] = []
      for (const g of pending) {
        const c = yield* convergedState(view, g, nodes)
        if (!c.settled) still.push(g)
        else if (c.state !== undefined) out.set(g, c.state)
      }
      pending = still
      if (pending.length === 0) return out
      if (view.driver.now() - start >= limit)
        return yield* new SimTimeout({
          what: "convergence",
          afterMillis: view.driver.now() - start,
          message: `groups ${pending.slice(0, 20).join(",")}${pending.length > 20 ? ",…" : ""} did not converge on nodes ${nodes.join(",")} within ${limit} ms`,
        })
      yield* view.driver.advance(POLL_MS)
    }
  })

/** `waitConverged`, then the client's history checked against the states. */
export const verify = (view: SimView, client: ChecksumClient, options: ConvergeOptions) =>
  Effect.gen(function* () {
    const finals = yield* waitConverged(view, options)
    const problems = checkHistory(client.history, finals)
    if (problems.length > 0)
      return yield* new SimCheckFailed({
        message: `the client history contradicts the replicas:\n  ${problems.slice(0, 20).join("\n  ")}`,
      })
    return finals
  })

/** A summary of the whole cluster now: two runs of the same seed and test code give the same. */
export const fingerprint = (view: SimView) =>
  Effect.gen(function* () {
    const lines = [`t=${view.driver.now()} tasks=${view.driver.time.scheduler.ran}`]
    for (const id of view.nodeIds) {
      const cur = view.nodes.slotOf(id).current
      if (cur === undefined) {
        lines.push(`node ${id}: down`)
        continue
      }
      const s = yield* cur.node.stats
      lines.push(
        `node ${id}: rounds=${s.rounds} in=${s.messagesIn} out=${s.messagesOut} leaders=${s.leaders} active=${s.activeGroups} quiesces=${s.quiesces} wakes=${s.wakes} snaps=${s.snapshotsInstalled}`,
      )
      for (const g of yield* cur.node.groups)
        lines.push(`  g${g.groupId}: leader=${g.leaderNode ?? "-"} term=${g.term} applied=${g.applied}`)
    }
    return lines.join("\n")
  })
