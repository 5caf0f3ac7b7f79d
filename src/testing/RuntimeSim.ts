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
 * - `skewClock(n, { offsetMs, drift })`: the node's clock runs off the virtual base from now on
 *   (SimClock.ts): its readings are offset and drift, its sleeps last `1 / (1 + drift)` as
 *   long; the skew stays with the node across restarts. Clients and the test stay on base time.
 * - `partition(...groups)`, `setFaults(...)`, `clearFaults`, and everything else of
 *   `network` (`block`, per-link faults, counters) act on Raft traffic only; the bus stays
 *   whole, as with one NATS server that every node still reaches.
 *
 * CLIENTS: `client` is a `ChecksumClient` (ChecksumClient.ts) over the bus: requests on
 * `flotilla.<c>.group.<gid>` with backoff on "no leader now", recorded in one history that
 * `verify` checks against the converged replicas. It speaks `ChecksumMachine`'s protocol (the
 * default kind); with other kinds, use `request` or the nodes' services.
 */
import { Cause, Data, Duration, Effect, type Fiber, Layer, Scope } from "effect"
import { GroupId, NodeId, replicaIdOf } from "../raft/Ids.js"
import { seededRand } from "../raft/Rand.js"
import type { ReplicaId } from "../raft/Types.js"
import {
  type GroupStatus,
  type NodeConfig,
  NodeLive,
  type NodeService,
  type NodeStats,
} from "../runtime/Node.js"
import type { ShardKind } from "../runtime/ShardKind.js"
import type { MemoryDisk } from "../storage/MemoryLogStore.js"
import type { BusService, RequestError } from "../transport/Bus.js"
import * as MemoryBus from "../transport/MemoryBus.js"
import * as MemoryNetwork from "../transport/MemoryNetwork.js"
import { clusterSubjects } from "../transport/Subjects.js"
import {
  ChecksumClient,
  type ClientError,
  type MachineState,
  type WorkloadOptions,
  type WorkloadReport,
} from "./ChecksumClient.js"
import { checksumKind } from "./ChecksumMachine.js"
import * as Checks from "./RuntimeSimChecks.js"
import { type Divergence, type ReplicaView, SimCheckFailed } from "./RuntimeSimChecks.js"
import type { SimTimeout } from "./RuntimeSimDriver.js"
import * as SimDriver from "./RuntimeSimDriver.js"
import type { NodeDown, NodeUp } from "./RuntimeSimNodes.js"
import * as SimNodes from "./RuntimeSimNodes.js"
import { mixSeed } from "./RuntimeSimSeed.js"
import type { ClockSkew } from "./SimClock.js"

export { busiestLeader, Divergence, type ReplicaView, SimCheckFailed } from "./RuntimeSimChecks.js"
export { SimTimeout } from "./RuntimeSimDriver.js"
export { NodeDown, NodeUp } from "./RuntimeSimNodes.js"
export { seeds } from "./RuntimeSimSeed.js"
export type { ClockSkew } from "./SimClock.js"

/** How to build a simulated cluster. */
export interface RuntimeSimOptions {
  readonly seed: number
  /** Nodes 1..n (default 3). */
  readonly nodes?: number
  /** Static groups 1..groups, bootstrapped on their members at each start, as a static node does (StaticNode.ts) (default 0). */
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
  /**
   * The kinds the nodes know by name (`NodeConfig.kinds`). A kind's leader task
   * (`ShardKind.whileLeader`, e.g. the KV store's lease expiry) runs ONLY for kinds listed
   * here: `kindOf` alone builds the state machines but starts no leader task.
   */
  readonly kinds?: ReadonlyArray<ShardKind>
  /** Link faults every Raft link starts with (default: none). */
  readonly faults?: MemoryNetwork.LinkFaultsInput
  /** The client's request timeout (default 1,000 ms) and give-up deadline (default 60,000 ms). */
  readonly client?: { readonly requestTimeoutMs?: number; readonly deadlineMs?: number }
  /** Log lines kept for failure reports (default 200). */
  readonly keepLogLines?: number
  /** Also hands every log line here (e.g. `console.log` while debugging a seed). */
  readonly onLog?: (line: string) => void
}

/** Any failure of a run, with what it takes to replay it. */
export class RuntimeSimFailure extends Data.TaggedError("RuntimeSimFailure")<{
  readonly seed: number
  readonly atMillis: number
  readonly message: string
}> {}

/** The simulation's errors that tests may see. */
export type SimError = SimTimeout | NodeDown | NodeUp | Divergence | SimCheckFailed

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
  /**
   * Takes the lines of the loops that died (`node <n>: flotilla: loop <name> died: <cause>`): a
   * real process would have exited. `run` fails if any is left untaken when the body ends.
   */
  readonly takeLoopDeaths: () => string[]
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
  /**
   * The node's clock gets an offset (ms, may be negative: a jump of the reading) and/or a drift
   * (rate: 0.3 = 30% fast) from now on, across restarts (SimClock.ts). Absent fields keep theirs.
   */
  readonly skewClock: (node: number, skew: ClockSkew) => Effect.Effect<void>

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

/** The shape of the cluster `options` asks for. */
const clusterShape = (options: RuntimeSimOptions) => {
  const nodeIds = Array.from({ length: options.nodes ?? 3 }, (_, i) => NodeId(i + 1))
  const members = (options.members ?? nodeIds).map((m) => NodeId(m))
  return {
    cluster: options.cluster ?? "sim",
    nodeIds,
    groupIds: Array.from({ length: options.groups ?? 0 }, (_, i) => GroupId(i + 1)),
    members,
    voters: members.map((m): ReplicaId => replicaIdOf(m)),
  }
}
type Shape = ReturnType<typeof clusterShape>

/** The network, the bus and the shared client, made inside the simulation. */
const sharedInfrastructure = (
  driver: SimDriver.SimDriver,
  seed: number,
  shape: Shape,
  options: RuntimeSimOptions,
) =>
  Effect.gen(function* () {
    const { network, bus, clientBus } = yield* driver
      .run(
        Effect.gen(function* () {
          const network = yield* MemoryNetwork.make({ seed, cluster: shape.cluster })
          if (options.faults !== undefined) yield* network.setFaults(options.faults)
          const bus = yield* MemoryBus.make()
          const clientBus: BusService = yield* bus.connect
          return { network, bus, clientBus }
        }).pipe(Scope.extend(driver.scope)),
      )
      .pipe(Effect.orDie)
    const clientRandom = new MemoryNetwork.SeededRandom(mixSeed(seed, 0, 0xc11e))
    const client = new ChecksumClient(clientBus, {
      cluster: shape.cluster,
      requestTimeoutMs: options.client?.requestTimeoutMs,
      deadlineMs: options.client?.deadlineMs,
      random: () => clientRandom.next(),
    })
    return { network, bus, clientBus, client }
  })

/** As a static node does (StaticNode.ts): bootstraps the static groups a member does not hold yet. */
const bootstrapStaticGroups = (shape: Shape) => (slot: SimNodes.SimSlot, node: NodeService) =>
  Effect.gen(function* () {
    if (!shape.members.includes(slot.id) || shape.groupIds.length === 0) return
    const held = new Set((yield* node.groups).map((g) => g.groupId))
    const replicaId = replicaIdOf(slot.id)
    for (const groupId of shape.groupIds) {
      if (held.has(groupId)) continue
      yield* node.createGroup({ groupId, replicaId, bootstrap: { voters: shape.voters } }).pipe(Effect.orDie)
    }
  })

/** Every node is a `NodeLive` over its fenced services, with a seeded election jitter per incarnation. */
const simNodes = (
  driver: SimDriver.SimDriver,
  seed: number,
  shape: Shape,
  infra: { readonly network: MemoryNetwork.MemoryNetwork; readonly bus: MemoryBus.MemoryBus },
  options: RuntimeSimOptions,
) => {
  const kindOf = options.kindOf ?? (() => checksumKind)
  return SimNodes.make<SimNodes.SimSlot, never>({
    driver,
    network: infra.network,
    bus: infra.bus,
    incarnation: (slot, services) =>
      NodeLive({
        nodeId: slot.id,
        cluster: shape.cluster,
        kindOf,
        ...(options.kinds === undefined ? {} : { kinds: options.kinds }),
        settings: options.settings,
        raft: {
          ...options.raft,
          rand: options.raft?.rand ?? seededRand(mixSeed(seed, slot.id, slot.starts)),
        },
      }).pipe(Layer.provide(Layer.mergeAll(services.store, services.transport, services.bus))),
    started: bootstrapStaticGroups(shape),
  })
}

/** The parts the API sections delegate to. */
interface Parts {
  readonly seed: number
  readonly shape: Shape
  readonly options: RuntimeSimOptions
  readonly driver: SimDriver.SimDriver
  readonly nodes: SimNodes.SimNodes<SimNodes.SimSlot, never>
  readonly network: MemoryNetwork.MemoryNetwork
  readonly bus: MemoryBus.MemoryBus
  readonly clientBus: BusService
  readonly client: ChecksumClient
}

type TimeApi = "now" | "logs" | "note" | "advance" | "run" | "fork" | "join" | "until" | "check"
const timeApi = ({ driver }: Parts): Pick<RuntimeSim, TimeApi> => ({
  now: driver.now,
  logs: driver.logs,
  note: (text) => driver.record(`t=${driver.now()} NOTE ${text}`),
  advance: (d) => driver.advance(Duration.toMillis(Duration.decode(d))),
  run: driver.run,
  fork: (effect) => Effect.sync(() => driver.fork(effect)),
  join: driver.join,
  until: driver.until,
  check: (cond, what) => (cond ? Effect.void : Effect.fail(new SimCheckFailed({ message: what }))),
})

type NodesApi = "isUp" | "upNodes" | "node" | "disk" | "crash" | "restart" | "status" | "stats" | "skewClock"
const nodesApi = ({ nodes }: Parts): Pick<RuntimeSim, NodesApi> => ({
  isUp: nodes.isUp,
  upNodes: nodes.upNodes,
  node: nodes.node,
  disk: (n) => nodes.slotOf(n).disk,
  crash: nodes.crash,
  restart: (n) => nodes.restart(n).pipe(Effect.catchTags({ SimTimeout: Effect.die })),
  status: (n) => Effect.flatMap(nodes.node(n), (node) => node.groups),
  stats: (n) => Effect.flatMap(nodes.node(n), (node) => node.stats),
  skewClock: nodes.skewClock,
})

type NetworkApi = "isolate" | "partition" | "heal" | "setFaults" | "clearFaults"
const networkApi = ({ nodes, network }: Parts): Pick<RuntimeSim, NetworkApi> => ({
  isolate: nodes.isolate,
  partition: (...groups) => network.partition(...groups.map((g) => g.map((n) => NodeId(n)))),
  heal: nodes.heal,
  setFaults: (faults, link) =>
    network.setFaults(
      faults,
      link === undefined ? undefined : { from: NodeId(link.from), to: NodeId(link.to) },
    ),
  clearFaults: network.clearFaults,
})

type ClientApi = "request" | "write" | "read" | "workload"
const clientApi = ({ driver, shape, options, clientBus, client }: Parts): Pick<RuntimeSim, ClientApi> => {
  const subjects = clusterSubjects(shape.cluster)
  return {
    request: (group, body) =>
      driver.run(
        clientBus.request(subjects.group(GroupId(group)), body, {
          timeout: options.client?.requestTimeoutMs ?? 1000,
        }),
        { what: `a request to group ${group}` },
      ),
    write: (group, payload) =>
      driver.run(client.write(group, payload), { what: `a write to group ${group}` }),
    read: (group, o) => driver.run(client.read(group, o), { what: `a read of group ${group}` }),
    workload: (o) => driver.run(client.workload(o), { what: `a workload of ${o.writes} writes` }),
  }
}

type ChecksApi = "leaders" | "waitForLeaders" | "replicas" | "waitConverged" | "verify" | "fingerprint"
const checksApi = (parts: Parts): Pick<RuntimeSim, ChecksApi> => {
  const view: Checks.SimView = { ...parts, nodeIds: parts.shape.nodeIds, groupIds: parts.shape.groupIds }
  return {
    leaders: (o) => Checks.leaders(view, o),
    waitForLeaders: (o) => Checks.waitForLeaders(view, o),
    replicas: (group, nodes) => Checks.replicas(view, group, nodes),
    waitConverged: (o) => Checks.waitConverged(view, o),
    verify: (o) => Checks.verify(view, parts.client, o),
    fingerprint: Effect.suspend(() => Checks.fingerprint(view)),
  }
}

/** Builds a simulated cluster; it stops (gracefully, in virtual time) when the scope closes. */
export const make = (options: RuntimeSimOptions): Effect.Effect<RuntimeSim, never, Scope.Scope> =>
  Effect.gen(function* () {
    const seed = options.seed >>> 0
    const shape = clusterShape(options)
    const driver = yield* SimDriver.make({ keepLogLines: options.keepLogLines, onLog: options.onLog })
    const infra = yield* sharedInfrastructure(driver, seed, shape, options)
    const nodes = simNodes(driver, seed, shape, infra, options)
    for (const id of shape.nodeIds) nodes.add(SimNodes.newSlot(id))
    for (const slot of nodes.slots) yield* nodes.start(slot, `starting node ${slot.id}`).pipe(Effect.orDie)
    const parts: Parts = { seed, shape, options, driver, nodes, ...infra }
    return {
      seed,
      cluster: shape.cluster,
      nodeIds: shape.nodeIds,
      groupIds: shape.groupIds,
      network: infra.network,
      bus: infra.bus,
      client: infra.client,
      takeLoopDeaths: () => nodes.loopDeaths.splice(0),
      ...timeApi(parts),
      ...nodesApi(parts),
      ...networkApi(parts),
      ...clientApi(parts),
      ...checksApi(parts),
    } satisfies RuntimeSim
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
      const deathsLeft = Effect.suspend(() => {
        const left = sim.takeLoopDeaths()
        return left.length === 0
          ? Effect.void
          : Effect.fail(
              new SimCheckFailed({ message: `loops died (a process would have exited): ${left.join("; ")}` }),
            )
      })
      return yield* Effect.tap(body(sim), () => deathsLeft).pipe(
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
