/**
 * A seeded, deterministic simulation of whole clusters of real nodes, in one process: N
 * `NodeLive` nodes over one `MemoryNetwork` (seeded link faults, partitions), one `MemoryBus`
 * for client requests and liveness, and a `MemoryDisk`-backed `MemoryLogStore` per node that
 * survives crashes. The runtime-level sibling of `Simulator` (which drives bare Raft cores):
 * here the engine, the store, the transport's frames and the group subjects are the
 * production code, and the test plays the clients and the faults.
 *
 * ```ts
 * it.effect("survives a crash", () =>
 *   RuntimeSim.run({ seed, nodes: 3, groups: 100 }, (sim) =>
 *     Effect.gen(function* () {
 *       const leaders = yield* sim.waitForLeaders()
 *       yield* sim.workload({ groups: [1, 2, 3], writes: 300 })
 *       yield* sim.crash(leaders.get(1)!)
 *       yield* sim.workload({ groups: [1, 2, 3], writes: 300, prefix: "after" })
 *       yield* sim.verify({ groups: [1, 2, 3] })
 *     }),
 *   ))
 * ```
 *
 * TIME is virtual (`RuntimeSimTime.ts`): every fiber of the simulation runs on its own clock and
 * scheduler, and only moves when the test drives it: `advance(ms)`, `until(what, cond)`, or
 * `run(effect)` (which drives until the effect is done). Nothing depends on the wall clock,
 * so a seed replays exactly: the same seed and test code give the same run, round for round.
 * Effects that wait on the cluster (client requests, reads) must run inside the simulation:
 * through `run`/`fork`, or the shortcuts `write`, `read`, `workload`.
 *
 * THE SEED decides the network's fault draws, every node's election jitter (a `Rand` per node
 * incarnation) and the clients' backoff jitter. `seeds([...])` gives a test's seed list, or the
 * comma-separated `FLOTILLA_SEED` to replay one; `run` reports every failure with its seed,
 * virtual time and the last log lines of the nodes.
 *
 * FAULTS:
 * - `crash(n)`: the node dies at once. Its `MemoryDisk` keeps exactly the batches already
 *   written (`disk.crash()`), its fence drops everything it would still send or receive
 *   (RuntimeFence.ts), its fibers are interrupted; nothing of the shutdown path is observable.
 *   `restart(n)` starts a new incarnation on the same disk (new fibers, new election jitter).
 * - `isolate(n)`: the node loses its NATS connection: Raft frames to and from it are cut
 *   (`MemoryNetwork.isolate`) and so are its bus messages (liveness pings, requests to the
 *   groups it leads, replies). `heal` undoes every cut.
 * - `partition(...groups)`, `setFaults(...)`, `clearFaults`, and everything else of
 *   `network` (`block`, per-link faults, counters) act on Raft traffic only; the bus stays
 *   whole, as with one NATS server that every node still reaches.
 *
 * CLIENTS: `client` is a `ChecksumClient` (ChecksumClient.ts) over the bus: requests on
 * `flotilla.<c>.group.<gid>` with backoff on "no leader now", recorded in one history that
 * `verify` checks against the converged replicas. It speaks `ChecksumMachine`'s protocol (the
 * default kind); with other kinds, use `request` or the nodes' services.
 */
import {
  Cause,
  Context,
  Data,
  Duration,
  Effect,
  ExecutionStrategy,
  Exit,
  type Fiber,
  FiberId,
  FiberRef,
  HashMap,
  HashSet,
  Layer,
  Logger,
  Option,
  Scope,
} from "effect"
import { GroupId, NodeId, replicaIdOf } from "../raft/Ids.js"
import { seededRand } from "../raft/Rand.js"
import type { ReplicaId } from "../raft/Types.js"
import {
  type GroupStatus,
  Node,
  type NodeConfig,
  NodeLive,
  type NodeService,
  type NodeStats,
} from "../runtime/Node.js"
import type { ShardKind } from "../runtime/ShardKind.js"
import { MemoryDisk } from "../storage/MemoryLogStore.js"
import type { BusService, RequestError } from "../transport/Bus.js"
import * as MemoryBus from "../transport/MemoryBus.js"
import * as MemoryNetwork from "../transport/MemoryNetwork.js"
import { clusterSubjects } from "../transport/Subjects.js"
import {
  ChecksumClient,
  type ClientError,
  checkHistory,
  type MachineState,
  type WorkloadOptions,
  type WorkloadReport,
} from "./ChecksumClient.js"
import { checksumKind } from "./ChecksumMachine.js"
import { Fence, fencedNodeServices } from "./RuntimeFence.js"
import { VirtualTime } from "./RuntimeSimTime.js"

/** How to build a simulated cluster. */
export interface RuntimeSimOptions {
  readonly seed: number
  /** Nodes 1..n (default 3). */
  readonly nodes?: number
  /** Static groups 1..groups, bootstrapped on their members at each start like `flotilla start --static-groups` (default 0). */
  readonly groups?: number
  /** The nodes that host the static groups (default: every node). */
  readonly members?: ReadonlyArray<number>
  /** Cluster name (default "sim"). */
  readonly cluster?: string
  /** Node settings (tick, snapshots, quiescence, liveness); unset ones keep the node's defaults. */
  readonly settings?: NodeConfig["settings"]
  /** Raft settings for every replica. Without `rand`, each node incarnation gets one seeded from `seed`. */
  readonly raft?: NodeConfig["raft"]
  /** The state machine kind of each group (default: `ChecksumMachine`). */
  readonly kindOf?: (groupId: GroupId) => ShardKind
  /** Link faults every Raft link starts with (default: none). */
  readonly faults?: MemoryNetwork.LinkFaultsInput
  /** The client's request timeout (default 1,000 ms) and give-up deadline (default 60,000 ms). */
  readonly client?: { readonly requestTimeoutMs?: number; readonly deadlineMs?: number }
  /** Log lines kept for failure reports (default 200). */
  readonly keepLogLines?: number
  /** Also hands every log line here (e.g. `console.log` while debugging a seed). */
  readonly onLog?: (line: string) => void
}

/** A condition did not hold in time (virtual milliseconds). */
export class SimTimeout extends Data.TaggedError("SimTimeout")<{
  readonly what: string
  readonly afterMillis: number
  readonly message: string
}> {}

/** The node is crashed (or not started). */
export class NodeDown extends Data.TaggedError("NodeDown")<{
  readonly node: number
  readonly message: string
}> {}

/** The node is running (it cannot be restarted). */
export class NodeUp extends Data.TaggedError("NodeUp")<{ readonly node: number; readonly message: string }> {}

/** Replicas of a group applied the same log prefix but hold different states: a safety bug. */
export class Divergence extends Data.TaggedError("Divergence")<{
  readonly group: number
  readonly message: string
}> {}

/** A check on the run failed (`check`, `verify`). */
export class SimCheckFailed extends Data.TaggedError("SimCheckFailed")<{ readonly message: string }> {}

/** Any failure of a run, with what it takes to replay it. */
export class RuntimeSimFailure extends Data.TaggedError("RuntimeSimFailure")<{
  readonly seed: number
  readonly atMillis: number
  readonly message: string
}> {}

/** One node's replica of a group, for comparisons. */
export interface ReplicaView {
  readonly node: NodeId
  readonly status: GroupStatus
  /** The state machine's answer to an empty stale query (`ChecksumMachine`: its JSON state). */
  readonly reply: string
  /** `reply` parsed, when it is a `ChecksumMachine` state. */
  readonly state: MachineState | undefined
}

/** The simulation's errors that tests may see. */
export type SimError = SimTimeout | NodeDown | NodeUp | Divergence | SimCheckFailed

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

/**
 * Seeds for a test: `defaults`, or the comma-separated list in `FLOTILLA_SEED` (replay with
 * `FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts <file>`).
 */
export const seeds = (defaults: ReadonlyArray<number>): number[] => {
  const env = typeof process === "undefined" ? undefined : process.env.FLOTILLA_SEED
  if (env !== undefined && env.trim() !== "") return env.split(",").map((s) => Number(s.trim()))
  return [...defaults]
}

const mix = (seed: number, a: number, b: number): number => {
  let z = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(a, 0x85ebca77) ^ Math.imul(b, 0xc2b2ae3d)) >>> 0
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0
  return (z ^ (z >>> 16)) >>> 0
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

interface Incarnation {
  readonly node: NodeService
  readonly scope: Scope.CloseableScope
  readonly fence: Fence
}

interface Slot {
  readonly id: NodeId
  readonly disk: MemoryDisk
  current: Incarnation | undefined
  starts: number
  isolated: boolean
}

/** Virtual milliseconds between two checks of a condition (`until`, `waitConverged`). */
const POLL_MS = 25

/** Virtual milliseconds `run` and `join` drive before giving up (default). */
const DEFAULT_RUN_LIMIT = 600_000

/** A running simulation; make one with `make` (scoped) or `run`. */
export interface RuntimeSim {
  readonly seed: number
  readonly cluster: string
  readonly nodeIds: ReadonlyArray<NodeId>
  /** The static groups (1..groups). */
  readonly groupIds: ReadonlyArray<GroupId>
  readonly network: MemoryNetwork.MemoryNetwork
  readonly bus: MemoryBus.MemoryBus
  /** The shared client (its history is what `verify` checks). */
  readonly client: ChecksumClient
  /** Virtual time now, in milliseconds. */
  readonly now: () => number
  /** The last log lines of every node (`t=<ms> [node n] LEVEL message`) and of `note`. */
  readonly logs: () => ReadonlyArray<string>
  /** Adds a line to the log (`t=<ms> NOTE text`), e.g. each fault a test injects. */
  readonly note: (text: string) => void

  // ----- time
  /** Lets `millis` of virtual time pass. */
  readonly advance: (millis: Duration.DurationInput) => Effect.Effect<void>
  /** Runs `effect` inside the simulation, driving time until it is done (fails with `SimTimeout` after `timeoutMs`). */
  readonly run: <A, E>(
    effect: Effect.Effect<A, E>,
    options?: { readonly timeoutMs?: number; readonly what?: string },
  ) => Effect.Effect<A, E | SimTimeout>
  /** Starts `effect` inside the simulation; it progresses whenever time is driven. */
  readonly fork: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<Fiber.RuntimeFiber<A, E>>
  /** Drives time until `fiber` is done; its result. */
  readonly join: <A, E>(
    fiber: Fiber.RuntimeFiber<A, E>,
    options?: { readonly timeoutMs?: number; readonly what?: string },
  ) => Effect.Effect<A, E | SimTimeout>
  /** Drives time in steps of `stepMs` (default 25) until `cond` (run inside the simulation) holds. */
  readonly until: <E>(
    what: string,
    cond: Effect.Effect<boolean, E>,
    options?: { readonly timeoutMs?: number; readonly stepMs?: number },
  ) => Effect.Effect<void, E | SimTimeout>
  /** Fails with `SimCheckFailed(what)` unless `cond`. */
  readonly check: (cond: boolean, what: string) => Effect.Effect<void, SimCheckFailed>

  // ----- nodes
  readonly isUp: (node: number) => boolean
  readonly upNodes: () => NodeId[]
  /** The running node's service. */
  readonly node: (node: number) => Effect.Effect<NodeService, NodeDown>
  /** The node's disk (it outlives crashes). */
  readonly disk: (node: number) => MemoryDisk
  /** Kills the node abruptly (see the module comment). */
  readonly crash: (node: number) => Effect.Effect<void, NodeDown>
  /** Starts a crashed node again on its disk. */
  readonly restart: (node: number) => Effect.Effect<void, NodeUp>
  /** Every replica the node hosts, as `Node.groups` reports them. */
  readonly status: (node: number) => Effect.Effect<ReadonlyArray<GroupStatus>, NodeDown>
  readonly stats: (node: number) => Effect.Effect<NodeStats, NodeDown>

  // ----- network
  /** Cuts the node off Raft traffic and the bus (a lost NATS connection). */
  readonly isolate: (node: number) => Effect.Effect<void>
  /** Partitions Raft traffic (the bus stays whole). */
  readonly partition: (...groups: ReadonlyArray<ReadonlyArray<number>>) => Effect.Effect<void>
  /** Removes every cut: partitions, isolations, blocks. */
  readonly heal: Effect.Effect<void>
  /** Faults on every Raft link, or on one link. */
  readonly setFaults: (
    faults: MemoryNetwork.LinkFaultsInput,
    link?: { readonly from: number; readonly to: number },
  ) => Effect.Effect<void>
  readonly clearFaults: Effect.Effect<void>

  // ----- clients (shortcuts that run inside the simulation)
  /** One raw request on the group subject (no retry). */
  readonly request: (group: number, body: Uint8Array) => Effect.Effect<Uint8Array, RequestError | SimTimeout>
  readonly write: (group: number, payload: string) => Effect.Effect<MachineState, ClientError | SimTimeout>
  readonly read: (
    group: number,
    options?: { readonly stale?: boolean },
  ) => Effect.Effect<MachineState, ClientError | SimTimeout>
  readonly workload: (options: WorkloadOptions) => Effect.Effect<WorkloadReport, ClientError | SimTimeout>

  // ----- observation
  /**
   * Each group's leader where the live members agree on it: every running member of the group
   * names the same running node, whose replica leads. Groups without agreement map to undefined.
   */
  readonly leaders: (options?: {
    readonly groups?: ReadonlyArray<number>
    readonly among?: ReadonlyArray<number>
  }) => Effect.Effect<Map<number, NodeId | undefined>>
  /** Waits until every group (default: the static ones) has an agreed leader among `among`. */
  readonly waitForLeaders: (options?: {
    readonly groups?: ReadonlyArray<number>
    readonly among?: ReadonlyArray<number>
    readonly timeoutMs?: number
  }) => Effect.Effect<Map<number, NodeId>, SimTimeout>
  /** The group's replica on every running node that hosts it (status and stale state). */
  readonly replicas: (
    group: number,
    nodes?: ReadonlyArray<number>,
  ) => Effect.Effect<ReplicaView[], SimTimeout>
  /**
   * Waits until the groups' replicas on `nodes` (default: running nodes) have applied the same
   * committed log, then compares their states: `Divergence` if they differ. Each group's state.
   */
  readonly waitConverged: (options: {
    readonly groups: ReadonlyArray<number>
    readonly nodes?: ReadonlyArray<number>
    readonly timeoutMs?: number
  }) => Effect.Effect<Map<number, MachineState>, SimTimeout | Divergence>
  /** `waitConverged`, then checks the client history against the states (ChecksumClient.ts). */
  readonly verify: (options: {
    readonly groups: ReadonlyArray<number>
    readonly nodes?: ReadonlyArray<number>
    readonly timeoutMs?: number
  }) => Effect.Effect<Map<number, MachineState>, SimTimeout | Divergence | SimCheckFailed>
  /**
   * A summary of the whole cluster now (time, fiber tasks run so far, per node: up, rounds,
   * messages, leaders; per group and node: leader, term, applied): two runs of the same seed
   * and test code give the same string.
   */
  readonly fingerprint: Effect.Effect<string>
}

/** Builds a simulated cluster; it stops (gracefully, in virtual time) when the scope closes. */
export const make = (options: RuntimeSimOptions): Effect.Effect<RuntimeSim, never, Scope.Scope> =>
  Effect.gen(function* () {
    const seed = options.seed >>> 0
    const nodeCount = options.nodes ?? 3
    const cluster = options.cluster ?? "sim"
    const nodeIds = Array.from({ length: nodeCount }, (_, i) => NodeId(i + 1))
    const groupIds = Array.from({ length: options.groups ?? 0 }, (_, i) => GroupId(i + 1))
    const members = (options.members ?? nodeIds).map((m) => NodeId(m))
    const voters: ReplicaId[] = members.map((m) => replicaIdOf(m))
    const kindOf = options.kindOf ?? (() => checksumKind)
    const subjects = clusterSubjects(cluster)
    const time = new VirtualTime()

    // ----- logs: a ring of the last lines, stamped with virtual time and the node
    const keep = options.keepLogLines ?? 200
    const ring: string[] = []
    const record = (line: string) => {
      ring.push(line)
      if (ring.length > keep) ring.splice(0, ring.length - keep)
      options.onLog?.(line)
    }
    const logger = Logger.make(({ logLevel, message, annotations, cause }) => {
      const node = HashMap.get(annotations, "node")
      const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
      const why = Cause.isEmpty(cause) ? "" : ` | ${Cause.pretty(cause).split("\n")[0]}`
      record(
        `t=${time.now()} ${Option.isSome(node) ? `[node ${node.value}] ` : ""}${logLevel.label} ${text}${why}`,
      )
    })
    const runtime = yield* Effect.runtime<never>()
    const inSim = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.locallyWith(effect, FiberRef.currentLoggers, HashSet.add(logger))

    const forkFiber = <A, E>(effect: Effect.Effect<A, E>): Fiber.RuntimeFiber<A, E> =>
      time.fork(runtime, inSim(effect))

    const join = <A, E>(
      fiber: Fiber.RuntimeFiber<A, E>,
      o?: { readonly timeoutMs?: number; readonly what?: string },
    ): Effect.Effect<A, E | SimTimeout> =>
      Effect.gen(function* () {
        const limit = o?.timeoutMs ?? DEFAULT_RUN_LIMIT
        const started = time.now()
        yield* Effect.promise(() => time.advance(limit, () => fiber.unsafePoll() !== null))
        const exit = fiber.unsafePoll()
        if (exit !== null) return yield* exit
        fiber.unsafeInterruptAsFork(FiberId.none)
        yield* Effect.promise(() => time.settle())
        const what = o?.what ?? "a simulated effect"
        return yield* new SimTimeout({
          what,
          afterMillis: time.now() - started,
          message: `${what} did not finish within ${limit} ms of virtual time`,
        })
      })

    const run = <A, E>(
      effect: Effect.Effect<A, E>,
      o?: { readonly timeoutMs?: number; readonly what?: string },
    ): Effect.Effect<A, E | SimTimeout> => Effect.suspend(() => join(forkFiber(effect), o))

    // ----- shared infrastructure, made inside the simulation
    const simScope = yield* Scope.make()
    // Stop everything (gracefully: this is the end of the test, not a crash) with the scope.
    yield* Effect.addFinalizer(() =>
      run(Scope.close(simScope, Exit.void), { timeoutMs: 120_000, what: "stopping the simulation" }).pipe(
        Effect.ignore,
      ),
    )

    const { network, bus, clientBus } = yield* run(
      Effect.gen(function* () {
        const network = yield* MemoryNetwork.make({ seed, cluster })
        if (options.faults !== undefined) yield* network.setFaults(options.faults)
        const bus = yield* MemoryBus.make()
        const clientBus: BusService = yield* bus.connect
        return { network, bus, clientBus }
      }).pipe(Scope.extend(simScope)),
    ).pipe(Effect.orDie)
    const clientRandom = new MemoryNetwork.SeededRandom(mix(seed, 0, 0xc11e))
    const client = new ChecksumClient(clientBus, {
      cluster,
      requestTimeoutMs: options.client?.requestTimeoutMs,
      deadlineMs: options.client?.deadlineMs,
      random: () => clientRandom.next(),
    })

    // ----- nodes
    const slots = new Map<NodeId, Slot>()
    for (const id of nodeIds)
      slots.set(id, {
        id,
        disk: new MemoryDisk(`node-${id}`),
        current: undefined,
        starts: 0,
        isolated: false,
      })
    const slotOf = (n: number): Slot => {
      const s = slots.get(n as NodeId)
      if (s === undefined) throw new RangeError(`no node ${n} in this simulation (nodes 1..${nodeCount})`)
      return s
    }

    const startIncarnation = (slot: Slot) =>
      Effect.gen(function* () {
        slot.starts++
        const scope = yield* Scope.fork(simScope, ExecutionStrategy.sequential)
        const fence = new Fence()
        fence.cut = slot.isolated
        const deps = fencedNodeServices({ id: slot.id, disk: slot.disk, network, bus, fence })
        const layer = NodeLive({
          nodeId: slot.id,
          cluster,
          kindOf,
          settings: options.settings,
          raft: { ...options.raft, rand: options.raft?.rand ?? seededRand(mix(seed, slot.id, slot.starts)) },
        }).pipe(Layer.provide(deps))
        const built = yield* Effect.exit(Layer.buildWithScope(layer, scope))
        if (Exit.isFailure(built)) {
          yield* Scope.close(scope, built)
          return yield* Effect.failCause(built.cause)
        }
        const node = Context.get(built.value, Node)
        if (members.includes(slot.id) && groupIds.length > 0) {
          // Like `flotilla start --static-groups`: bootstrap the groups this node does not hold yet.
          const held = new Set((yield* node.groups).map((g) => g.groupId))
          const replicaId = replicaIdOf(slot.id)
          for (const groupId of groupIds) {
            if (held.has(groupId)) continue
            yield* node.createGroup({ groupId, replicaId, bootstrap: { voters } }).pipe(Effect.orDie)
          }
        }
        return { node, scope, fence } satisfies Incarnation
      }).pipe(Effect.annotateLogs("node", slot.id))

    for (const slot of slots.values())
      slot.current = yield* run(startIncarnation(slot), { what: `starting node ${slot.id}` }).pipe(
        Effect.orDie,
      )

    const nodeOf = (n: number): Effect.Effect<NodeService, NodeDown> =>
      Effect.suspend(() => {
        const cur = slotOf(n).current
        return cur === undefined
          ? Effect.fail(new NodeDown({ node: n, message: `node ${n} is down` }))
          : Effect.succeed(cur.node)
      })

    const isUp = (n: number) => slotOf(n).current !== undefined
    const upNodes = () => nodeIds.filter(isUp)

    const leaders: RuntimeSim["leaders"] = (o) =>
      Effect.gen(function* () {
        const among = (o?.among ?? nodeIds).map((n) => NodeId(n)).filter(isUp)
        const groups = o?.groups ?? groupIds
        const views = new Map<NodeId, Map<number, GroupStatus>>()
        for (const n of among) {
          const st = yield* slotOf(n).current!.node.groups
          views.set(n, new Map(st.map((g) => [g.groupId as number, g])))
        }
        const out = new Map<number, NodeId | undefined>()
        for (const g of groups) {
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

    const until: RuntimeSim["until"] = (what, cond, o) =>
      Effect.gen(function* () {
        const limit = o?.timeoutMs ?? 60_000
        const step = o?.stepMs ?? POLL_MS
        const start = time.now()
        for (;;) {
          if (yield* run(cond, { what: `checking ${what}` })) return
          if (time.now() - start >= limit)
            return yield* new SimTimeout({
              what,
              afterMillis: time.now() - start,
              message: `${what}: not reached within ${limit} ms of virtual time`,
            })
          yield* Effect.promise(() => time.advance(step))
        }
      })

    const replicas: RuntimeSim["replicas"] = (group, nodes) =>
      run(
        Effect.gen(function* () {
          const out: ReplicaView[] = []
          for (const n of (nodes ?? nodeIds).map((x) => NodeId(x)).filter(isUp)) {
            const node = slotOf(n).current!.node
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

    const settledStatus = (group: number, nodes: ReadonlyArray<NodeId>) =>
      Effect.gen(function* () {
        const key: string[] = []
        for (const n of nodes) {
          const st = yield* slotOf(n).current!.node.status(GroupId(group))
          if (Option.isNone(st) || st.value.stopped !== undefined) return undefined
          const s = st.value
          if (s.applied !== s.commit) return undefined
          key.push(`${s.commit}/${s.applied}/${s.lastIndex}`)
        }
        return new Set(key).size === 1 ? key[0] : undefined
      })

    const waitConverged: RuntimeSim["waitConverged"] = (o) =>
      Effect.gen(function* () {
        const nodes = (o.nodes ?? nodeIds).map((x) => NodeId(x)).filter(isUp)
        const out = new Map<number, MachineState>()
        const limit = o.timeoutMs ?? 60_000
        const start = time.now()
        let pending = [...o.groups]
        for (;;) {
          const still: number[] = []
          for (const g of pending) {
            const key = yield* settledStatus(g, nodes)
            if (key === undefined) {
              still.push(g)
              continue
            }
            const views = yield* replicas(g, nodes)
            const again = yield* settledStatus(g, nodes)
            if (again !== key) {
              still.push(g)
              continue
            }
            const replies = new Set(views.map((v) => v.reply))
            if (replies.size !== 1)
              return yield* new Divergence({
                group: g,
                message: `group ${g}: replicas applied the same log (commit/applied/last ${key}) but differ: ${views.map((v) => `node ${v.node}: ${v.reply}`).join("; ")}`,
              })
            const state = views[0]?.state
            if (state !== undefined) out.set(g, state)
          }
          pending = still
          if (pending.length === 0) return out
          if (time.now() - start >= limit)
            return yield* new SimTimeout({
              what: "convergence",
              afterMillis: time.now() - start,
              message: `groups ${pending.slice(0, 20).join(",")}${pending.length > 20 ? ",…" : ""} did not converge on nodes ${nodes.join(",")} within ${limit} ms`,
            })
          yield* Effect.promise(() => time.advance(POLL_MS))
        }
      })

    const sim: RuntimeSim = {
      seed,
      cluster,
      nodeIds,
      groupIds,
      network,
      bus,
      client,
      now: () => time.now(),
      logs: () => [...ring],
      note: (text) => record(`t=${time.now()} NOTE ${text}`),

      advance: (d) =>
        Effect.promise(() => time.advance(Duration.toMillis(Duration.decode(d)))).pipe(Effect.asVoid),
      run,
      fork: (effect) => Effect.sync(() => forkFiber(effect)),
      join,
      until,
      check: (cond, what) => (cond ? Effect.void : Effect.fail(new SimCheckFailed({ message: what }))),

      isUp,
      upNodes,
      node: nodeOf,
      disk: (n) => slotOf(n).disk,
      crash: (n) =>
        Effect.gen(function* () {
          const slot = slotOf(n)
          const inc = slot.current
          if (inc === undefined) return yield* new NodeDown({ node: n, message: `node ${n} is down already` })
          // From this instant nothing of the old incarnation reaches the world or its disk.
          inc.fence.dead = true
          slot.disk.crash()
          slot.current = undefined
          yield* run(Scope.close(inc.scope, Exit.void), { what: `tearing down crashed node ${n}` }).pipe(
            Effect.orDie,
          )
        }),
      restart: (n) =>
        Effect.gen(function* () {
          const slot = slotOf(n)
          if (slot.current !== undefined)
            return yield* new NodeUp({ node: n, message: `node ${n} is running` })
          slot.current = yield* run(startIncarnation(slot), { what: `restarting node ${n}` }).pipe(
            Effect.orDie,
          )
        }),
      status: (n) => Effect.flatMap(nodeOf(n), (node) => node.groups),
      stats: (n) => Effect.flatMap(nodeOf(n), (node) => node.stats),

      isolate: (n) =>
        Effect.gen(function* () {
          const slot = slotOf(n)
          slot.isolated = true
          if (slot.current !== undefined) slot.current.fence.cut = true
          yield* network.isolate(slot.id)
        }),
      partition: (...groups) => network.partition(...groups.map((g) => g.map((n) => NodeId(n)))),
      heal: Effect.gen(function* () {
        for (const slot of slots.values()) {
          slot.isolated = false
          if (slot.current !== undefined) slot.current.fence.cut = false
        }
        yield* network.heal
      }),
      setFaults: (faults, link) =>
        network.setFaults(
          faults,
          link === undefined ? undefined : { from: NodeId(link.from), to: NodeId(link.to) },
        ),
      clearFaults: network.clearFaults,

      request: (group, body) =>
        run(
          clientBus.request(subjects.group(GroupId(group)), body, {
            timeout: options.client?.requestTimeoutMs ?? 1000,
          }),
          {
            what: `a request to group ${group}`,
          },
        ),
      write: (group, payload) => run(client.write(group, payload), { what: `a write to group ${group}` }),
      read: (group, o) => run(client.read(group, o), { what: `a read of group ${group}` }),
      workload: (o) => run(client.workload(o), { what: `a workload of ${o.writes} writes` }),

      leaders,
      waitForLeaders: (o) =>
        Effect.gen(function* () {
          const groups = o?.groups ?? groupIds
          let found = new Map<number, NodeId>()
          yield* until(
            `a leader in ${groups.length} group(s)${o?.among === undefined ? "" : ` among nodes ${o.among.join(",")}`}`,
            Effect.map(leaders({ groups, among: o?.among }), (m) => {
              const out = new Map<number, NodeId>()
              for (const [g, l] of m) {
                if (l === undefined || (o?.among !== undefined && !o.among.includes(l))) return false
                out.set(g, l)
              }
              found = out
              return true
            }),
            { timeoutMs: o?.timeoutMs ?? 60_000 },
          )
          return found
        }),
      replicas,
      waitConverged,
      verify: (o) =>
        Effect.gen(function* () {
          const finals = yield* waitConverged(o)
          const problems = checkHistory(client.history, finals)
          if (problems.length > 0)
            return yield* new SimCheckFailed({
              message: `the client history contradicts the replicas:\n  ${problems.slice(0, 20).join("\n  ")}`,
            })
          return finals
        }),
      fingerprint: Effect.gen(function* () {
        const lines = [`t=${time.now()} tasks=${time.scheduler.ran}`]
        for (const id of nodeIds) {
          const cur = slotOf(id).current
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
      }),
    }
    return sim
  })

/**
 * Runs `body` against a new simulation and stops it afterwards. Any failure (including a
 * thrown assertion) becomes a `RuntimeSimFailure` whose message names the seed, the virtual
 * time, how to replay it, and the nodes' last log lines.
 */
export const run = <A, E, R>(
  options: RuntimeSimOptions,
  body: (sim: RuntimeSim) => Effect.Effect<A, E, R>,
): Effect.Effect<A, RuntimeSimFailure, Exclude<R, Scope.Scope>> =>
  Effect.scoped(
    Effect.gen(function* () {
      const sim = yield* make(options)
      return yield* body(sim).pipe(
        Effect.catchAllCause((cause) => {
          const logs = sim.logs().slice(-30)
          const message = [
            `[seed ${sim.seed}, t=${sim.now()} ms] ${Cause.pretty(cause)}`,
            `  replay: FLOTILLA_SEED=${sim.seed} npx vitest run --config test/vitest.config.ts <this test file>`,
            ...(logs.length > 0 ? ["  last log lines:", ...logs.map((l) => `    ${l}`)] : []),
          ].join("\n")
          return Effect.fail(new RuntimeSimFailure({ seed: sim.seed, atMillis: sim.now(), message }))
        }),
      )
    }),
  ) as Effect.Effect<A, RuntimeSimFailure, Exclude<R, Scope.Scope>>
