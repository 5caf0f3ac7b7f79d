/**
 * A deterministic simulation of a whole managed cluster, to test placement (and its settings)
 * against real nodes: every node runs `StartNode.nodeServices`, exactly what `flotilla start`
 * runs in a managed cluster (the engine, the metadata agent, the meta endpoint, the placement
 * driver, the admin endpoint, the KV gateway), over a `MemoryDisk` store of its own, one
 * `MemoryNetwork` and one `MemoryBus`, on virtual time (RuntimeSimTime.ts) with crash fences
 * (RuntimeFence.ts). Node 1 bootstraps the cluster; the others join by registering on the
 * meta subject, exactly as `--join` does (identity files aside: tokens are kept here). The
 * test plays operators (meta requests) and faults (crash, restart, isolation).
 *
 * ```ts
 * it("rebalances onto a new node", () =>
 *   PlacementSim.runSim({ seed: 11, nodes: 3 }, (sim) =>
 *     Effect.gen(function* () {
 *       yield* sim.meta({ _tag: "CreateKeyspace", name: "kv", shards: 30, replicationFactor: 3 })
 *       yield* sim.addNode()
 *       yield* PlacementSimChecks.waitUntil(sim, "4 nodes balanced", PlacementSimChecks.balanced)
 *     }),
 *   ))
 * ```
 *
 * Nodes host the KV store and the shard kinds in `kinds` (an application's entity kinds:
 * AppSim.ts builds on this). With `diskPlan` every node's store runs through a fault plan of
 * `FaultyLogStore` (kept across its restarts, like its disk); with `loopDeathEndsNode` a loop
 * that dies ends its node at once, as it ends a real process (decision 0071).
 *
 * The seed decides the network's draws and every node incarnation's election jitter; the
 * same seed replays the same run. `runSim` reports a failure with its seed, the virtual time,
 * the replay command and the last log lines.
 *
 * `checkQuorum` is the safety invariant the scenarios sample as time passes: every group's
 * latest applied configuration (the highest configuration version among running replicas)
 * keeps a majority of voters on running nodes, in both halves of a joint configuration.
 */
import { Cause, Effect, type Fiber, Layer, Schema, Scope } from "effect"
import * as KvShardKind from "../../shards/kv/KvShardKind.js"
import { callUntilAnswered } from "../client/MetaCall.js"
import { metaSubjectOf } from "../client/MetaClient.js"
import { type ClusterState, META_GROUP, type Settings } from "../meta/ClusterState.js"
import { type MetaReply, MetaRequest, type MetaRequestInput } from "../meta/MetaProtocol.js"
import { localMetaState } from "../node/MetaEndpoint.js"
import * as StartNode from "../node/StartNode.js"
import { type GroupId, NodeId, nodeOfReplica } from "../raft/Ids.js"
import { seededRand } from "../raft/Rand.js"
import { GroupCatalog, type GroupCatalogService } from "../runtime/GroupCatalog.js"
import type { GroupStatus, NodeService } from "../runtime/Node.js"
import type { ShardKind } from "../runtime/ShardKind.js"
import type { FaultPlan } from "../storage/internal/FaultPlan.js"
import { LogStore } from "../storage/LogStore.js"
import * as MemoryLogStore from "../storage/MemoryLogStore.js"
import type { BusService } from "../transport/Bus.js"
import * as MemoryBus from "../transport/MemoryBus.js"
import * as MemoryNetwork from "../transport/MemoryNetwork.js"
import { type ClusterSubjects, clusterSubjects } from "../transport/Subjects.js"
import * as SimDriver from "./RuntimeSimDriver.js"
import { SimTimeout } from "./RuntimeSimDriver.js"
import * as SimNodes from "./RuntimeSimNodes.js"
import { mixSeed } from "./RuntimeSimSeed.js"
import type { ClockSkew } from "./SimClock.js"

export { seeds } from "./RuntimeSimSeed.js"

/** Cluster settings that make scenarios converge in tens of virtual seconds. */
export const simClusterSettings: Partial<Settings> = {
  heartbeatTimeoutMs: 2_000,
  downTimeoutMs: 6_000,
  operatorTimeoutMs: 30_000,
  transferTimeoutMs: 5_000,
  maxOperatorsPerNode: 4,
  maxOperatorsPerCluster: 16,
}

/** How to build a simulated managed cluster. */
export interface PlacementSimOptions {
  readonly seed: number
  /** Nodes started at once: node 1 bootstraps, the others join in order (default 3). */
  readonly nodes?: number
  readonly cluster?: string
  /** The new cluster's settings (default `simClusterSettings`). */
  readonly clusterSettings?: Partial<Settings>
  /** Between heartbeats (default 500 ms). */
  readonly reportIntervalMs?: number
  /** Between placement passes (default 250 ms). */
  readonly placementIntervalMs?: number
  /** Log lines kept for failure reports (default 300). */
  readonly keepLogLines?: number
  /**
   * The command of a failure report's replay line, after `FLOTILLA_SEED=<seed> ` (default
   * `npx vitest run --config test/vitest.config.ts <this test file>`).
   */
  readonly replay?: string
  /** Shard kinds the nodes host besides the KV store (which every node hosts). */
  readonly kinds?: ReadonlyArray<ShardKind>
  /**
   * The fault plan of node `n`'s store (`FaultyLogStore`'s: failed writes and syncs, full disk,
   * corruption), made once per node and kept across its restarts (default: none).
   */
  readonly diskPlan?: (node: NodeId) => FaultPlan
  /**
   * A loop that dies ends its node, as it ends a real process (decision 0071): the node is down
   * from that instant, as after `crash`, and the test restarts it (default false: the node runs
   * on with the dead loop, and only the death is recorded).
   */
  readonly loopDeathEndsNode?: boolean
}

/** A condition was not reached in time, or a check failed. */
export class SimFailed extends Error {
  constructor(message: string) {
    super(message)
    this.name = "SimFailed"
  }
}

/** A running simulation (see the module comment). */
export interface PlacementSim {
  readonly seed: number
  readonly now: () => number
  readonly logs: () => ReadonlyArray<string>
  /** Runs `effect` inside the simulation, driving time until it is done. */
  readonly run: <A, E>(
    effect: Effect.Effect<A, E>,
    what?: string,
    timeoutMs?: number,
  ) => Effect.Effect<A, E | SimFailed>
  /** Starts `effect` inside the simulation; it progresses whenever time is driven. */
  readonly fork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>
  /** Lets virtual time pass. */
  readonly advance: (millis: number) => Effect.Effect<void>
  /** Drives time in steps of `stepMs` (default 250) until `cond` (run inside the simulation) holds. */
  readonly until: (
    what: string,
    cond: Effect.Effect<boolean>,
    options?: { readonly timeoutMs?: number; readonly stepMs?: number },
  ) => Effect.Effect<void, SimFailed>
  /** Raw bytes to the meta subject, once; the answer bytes. */
  readonly rawMeta: (bytes: Uint8Array) => Effect.Effect<Uint8Array, SimFailed>
  /** A request to the metadata leader, retried until it answers (runtime errors retried). */
  readonly meta: (request: MetaRequestInput) => Effect.Effect<MetaReply, SimFailed>
  /** A JSON request to the nodes' KV gateways (`<c>.kv`), once; the JSON reply. */
  readonly kv: (request: Record<string, unknown>) => Effect.Effect<Record<string, unknown>, SimFailed>
  /** Starts a new node that joins the cluster; its id. */
  readonly addNode: (labels?: Record<string, string>) => Effect.Effect<NodeId, SimFailed>
  readonly nodeIds: () => ReadonlyArray<NodeId>
  readonly isUp: (node: number) => boolean
  readonly upNodes: () => NodeId[]
  readonly node: (node: number) => NodeService | undefined
  /** The node's disk (it outlives the node's incarnations). */
  readonly disk: (node: number) => MemoryLogStore.MemoryDisk
  /** The groups with any data (log, hard state, snapshot) on the node's disk, running or not. */
  readonly storedGroups: (node: number) => ReadonlyArray<GroupId>
  /** The node dies at once (nothing more leaves it; its disk keeps what was written). */
  readonly crash: (node: number) => Effect.Effect<void, SimFailed>
  /** A crashed node starts again on its disk, as itself. */
  readonly restart: (node: number) => Effect.Effect<void, SimFailed>
  /** Cuts the node off Raft traffic and the bus (a lost NATS connection) until `heal`. */
  readonly isolate: (node: number) => Effect.Effect<void>
  /** Undoes every `isolate`, and every cut made on `network`. */
  readonly heal: Effect.Effect<void>
  /**
   * The Raft network: `partition`, `block` (one way), per-link `setFaults` (loss, delay,
   * duplication, reordering), counters. Its cuts and faults act on Raft traffic only.
   */
  readonly network: MemoryNetwork.MemoryNetwork
  /** The test's own bus connection (clients made on it run inside the simulation). */
  readonly clientBus: BusService
  /** Writes a line of the test's own into the log (`[test] ...`). */
  readonly note: (text: string) => void
  /** The node's clock gets an offset and/or a drift from now on, across restarts (SimClock.ts). */
  readonly skewClock: (node: number, skew: ClockSkew) => Effect.Effect<void>
  /** The running, reachable node leading group 0 and its local metadata state, if any. */
  readonly metaLeader: () => Effect.Effect<
    { readonly node: NodeId; readonly state: ClusterState } | undefined
  >
  /** Every running node's replicas. */
  readonly statuses: () => Effect.Effect<Map<NodeId, ReadonlyArray<GroupStatus>>>
  /** Quorum violations now (see the module comment); also appended to `violations`. */
  readonly checkQuorum: () => Effect.Effect<string[]>
  /** Every violation `checkQuorum` has seen. */
  readonly violations: string[]
  /**
   * `node <n>: flotilla: loop <name> died: <cause>` for each loop that died in a running node (a
   * real process would have exited); `runSim` fails when any is left at the end.
   */
  readonly loopDeaths: string[]
  /** Takes (removes and returns) the loop deaths recorded so far: the ones a test expects. */
  readonly takeLoopDeaths: () => string[]
}

/** A node of the managed cluster: what outlives its incarnations besides its disk. */
interface Slot extends SimNodes.SimSlot {
  readonly token: string
  /** Its group catalog (the catalog file of a real node). */
  readonly catalog: GroupCatalogService
  readonly labels: Record<string, string>
  /** Its store's fault plan, if any (outlives incarnations, like the disk). */
  readonly plan: FaultPlan | undefined
  bootstrapped: boolean
}

/** A group catalog that outlives a node's incarnations (like the catalog file). */
const memoryCatalog = (): GroupCatalogService => {
  const kinds = new Map<number, string>()
  return {
    kindOf: (g) => kinds.get(g),
    set: (g, kind) => Effect.sync(() => void kinds.set(g, kind)),
    remove: (g) => Effect.sync(() => void kinds.delete(g)),
  }
}

/** Virtual time starts at a plausible wall-clock instant (the metadata group records instants). */
const EPOCH_MS = 1_700_000_000_000

/** Node settings that make elections and liveness fit the scenarios' time scale. */
const NODE_SETTINGS = { tickMs: 50, electionTicks: 10, livenessIntervalMs: 500, livenessTimeoutMs: 1500 }

/** What one incarnation of a node runs: `StartNode.nodeServices`, as `flotilla start` does. */
const nodeOptions = (
  options: PlacementSimOptions,
  seed: number,
  cluster: string,
  slot: Slot,
): StartNode.NodeServicesOptions => ({
  identity: {
    nodeId: slot.id,
    token: slot.token,
    cluster,
    bootstrapped: slot.bootstrapped,
    fresh: slot.starts === 1,
  },
  cluster,
  name: `n${slot.id}`,
  labels: slot.labels,
  kinds: [KvShardKind.make(), ...(options.kinds ?? [])],
  settings: NODE_SETTINGS,
  raft: { rand: seededRand(mixSeed(seed, slot.id, slot.starts)) },
  bootstrap:
    slot.id === 1
      ? {
          settings: options.clusterSettings ?? simClusterSettings,
          onBootstrapped: Effect.sync(() => {
            slot.bootstrapped = true
          }),
        }
      : undefined,
  agent: { reportIntervalMs: options.reportIntervalMs ?? 500, requestTimeoutMs: 1_000 },
  driver: {
    intervalMs: options.placementIntervalMs ?? 250,
    retryMs: 1_000,
    warmupMs: 1_500,
    actionTimeoutMs: 5_000,
  },
})

/** The network, the bus and the test's own bus connection, made inside the simulation. */
const sharedInfrastructure = (driver: SimDriver.SimDriver, seed: number, cluster: string) =>
  driver
    .run(
      Effect.gen(function* () {
        const network = yield* MemoryNetwork.make({ seed, cluster })
        const bus = yield* MemoryBus.make()
        const clientBus: BusService = yield* bus.connect
        return { network, bus, clientBus }
      }).pipe(Scope.extend(driver.scope)),
      { what: "building the network" },
    )
    .pipe(Effect.mapError((e) => new SimFailed(e.message)))

/** The parts the API sections delegate to. */
interface Parts {
  readonly seed: number
  readonly cluster: string
  readonly driver: SimDriver.SimDriver
  readonly nodes: SimNodes.SimNodes<Slot, unknown>
  readonly clientBus: BusService
  readonly violations: string[]
  readonly diskPlan: ((node: NodeId) => FaultPlan) | undefined
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** `effect` on the simulation, a timeout as `SimFailed`. */
const failOnTimeout = <A, E>(effect: Effect.Effect<A, E | SimTimeout>): Effect.Effect<A, E | SimFailed> =>
  Effect.catchIf(
    effect,
    (e): e is SimTimeout => e instanceof SimTimeout,
    (e) => Effect.fail(new SimFailed(e.message)),
  )

/** A line of the test's own in the log (`[test] crash n2`). */
const note = (driver: SimDriver.SimDriver, text: string) => driver.record(`t=${driver.now()} [test] ${text}`)
const noting = (driver: SimDriver.SimDriver, text: string) => Effect.sync(() => note(driver, text))

type TimeApi = "seed" | "now" | "logs" | "run" | "fork" | "advance" | "until"
const timeApi = ({ seed, driver }: Parts): Pick<PlacementSim, TimeApi> => ({
  seed,
  now: driver.now,
  logs: driver.logs,
  run: (effect, what = "a simulated effect", timeoutMs = 600_000) =>
    failOnTimeout(driver.run(effect, { what, timeoutMs })),
  fork: driver.fork,
  advance: driver.advance,
  until: (what, cond, o) =>
    failOnTimeout(
      driver.until(what, Effect.orDie(cond), {
        timeoutMs: o?.timeoutMs ?? 120_000,
        stepMs: o?.stepMs ?? 250,
      }),
    ),
})

/** The meta subject of raw request bytes: its `_tag`'s class when it has one, else the operators'. */
const rawMetaSubject = (subjects: ClusterSubjects, bytes: Uint8Array): string => {
  try {
    const tag = (JSON.parse(new TextDecoder().decode(bytes)) as { _tag?: unknown })._tag
    return typeof tag === "string"
      ? metaSubjectOf(subjects, { _tag: tag as MetaRequest["_tag"] })
      : subjects.metaOf("operator")
  } catch {
    return subjects.metaOf("operator")
  }
}

type MetaApi = "rawMeta" | "meta" | "kv"
const metaApi = ({ cluster, driver, clientBus }: Parts): Pick<PlacementSim, MetaApi> => {
  const subjects = clusterSubjects(cluster)
  return {
    rawMeta: (bytes) =>
      driver
        .run(clientBus.request(rawMetaSubject(subjects, bytes), bytes, { timeout: "1 second" }), {
          what: "a raw meta request",
        })
        .pipe(
          Effect.mapError(
            (e) => new SimFailed(e._tag === "SimTimeout" ? e.message : `raw meta request: ${e._tag}`),
          ),
        ),
    meta: (request) =>
      driver
        .run(
          callUntilAnswered(
            clientBus,
            metaSubjectOf(subjects, request),
            Schema.decodeUnknownSync(MetaRequest)(request),
            {
              timeout: "1 second",
              deadline: "60 seconds",
            },
          ),
          { what: `meta request ${request._tag}` },
        )
        .pipe(Effect.mapError((e) => new SimFailed(e.message))),
    kv: (request) =>
      driver
        .run(
          clientBus.request(subjects.kv, encoder.encode(JSON.stringify(request)), { timeout: "10 seconds" }),
          {
            what: `a KV gateway request (${String(request.op)})`,
          },
        )
        .pipe(
          Effect.mapError(
            (e) => new SimFailed(e._tag === "SimTimeout" ? e.message : `KV gateway request: ${e._tag}`),
          ),
          Effect.map((bytes) => JSON.parse(decoder.decode(bytes)) as Record<string, unknown>),
        ),
  }
}

type NodesApi =
  | "addNode"
  | "nodeIds"
  | "isUp"
  | "upNodes"
  | "node"
  | "disk"
  | "storedGroups"
  | "crash"
  | "restart"
  | "isolate"
  | "heal"
  | "skewClock"
const nodesApi = (parts: Parts): Pick<PlacementSim, NodesApi> => {
  const { driver, nodes, diskPlan } = parts
  const { meta } = metaApi(parts)
  const startFailed = (what: string) => (c: Cause.Cause<unknown>) =>
    Effect.fail(new SimFailed(`${what}: ${Cause.pretty(c)}`))
  return {
    addNode: (labels = {}) =>
      Effect.gen(function* () {
        const id = NodeId(nodes.slots.length + 1)
        const slot: Slot = {
          ...SimNodes.newSlot(id),
          token: `token-${id}`,
          catalog: memoryCatalog(),
          labels,
          plan: diskPlan?.(id),
          bootstrapped: false,
        }
        nodes.add(slot)
        if (id !== 1) {
          const reply = yield* meta({ _tag: "RegisterNode", token: slot.token, name: `n${id}`, labels })
          if (reply._tag !== "NodeRegistered" || reply.node !== id)
            return yield* Effect.fail(
              new SimFailed(`node ${id} registration answered ${JSON.stringify(reply)}`),
            )
        }
        yield* nodes
          .start(slot, `starting node ${id}`)
          .pipe(Effect.catchAllCause(startFailed(`node ${id} did not start`)))
        return id
      }),
    nodeIds: () => nodes.slots.map((s) => s.id),
    isUp: (n) => nodes.slots[n - 1]?.current !== undefined,
    upNodes: nodes.upNodes,
    node: (n) => nodes.slots[n - 1]?.current?.node,
    disk: (n) => nodes.slotOf(n).disk,
    storedGroups: (n) => [...(nodes.slots[n - 1]?.disk.groups.keys() ?? [])].sort((a, b) => a - b),
    crash: (n) =>
      Effect.suspend(() => {
        if (!nodes.isUp(n)) return Effect.fail(new SimFailed(`node ${n} is down already`))
        note(driver, `crash n${n}`)
        return Effect.orDie(nodes.crash(n))
      }),
    restart: (n) =>
      Effect.suspend(() => {
        if (nodes.isUp(n)) return Effect.fail(new SimFailed(`node ${n} is running`))
        note(driver, `restart n${n}`)
        return nodes.restart(n).pipe(Effect.catchAllCause(startFailed(`node ${n} did not restart`)))
      }),
    isolate: (n) => Effect.zipRight(noting(driver, `isolate n${n}`), nodes.isolate(n)),
    heal: Effect.zipRight(noting(driver, "heal"), nodes.heal),
    skewClock: nodes.skewClock,
  }
}

type ObserveApi = "metaLeader" | "statuses" | "checkQuorum" | "violations"
const observeApi = ({ driver, nodes, violations }: Parts): Pick<PlacementSim, ObserveApi> => {
  // Reading a node's status is synchronous: these observations run on any fiber.
  const statuses = () =>
    Effect.gen(function* () {
      const out = new Map<NodeId, ReadonlyArray<GroupStatus>>()
      for (const s of nodes.slots) if (s.current !== undefined) out.set(s.id, yield* s.current.node.groups)
      return out
    })
  const metaLeader = () =>
    Effect.map(statuses(), (all) => {
      for (const [id, groups] of all) {
        if (nodes.slotOf(id).isolated) continue
        if (groups.find((g) => g.groupId === META_GROUP)?.isLeader !== true) continue
        const state = localMetaState(nodes.slotOf(id).current!.node)
        if (state !== undefined) return { node: id, state }
      }
      return undefined
    })
  const checkQuorum = () =>
    Effect.map(statuses(), (all) => {
      // An isolated node is alive but reaches nobody: it does not count towards a quorum.
      const out = quorumViolations(
        all,
        new Set(nodes.upNodes().filter((n) => !nodes.slotOf(n).isolated)),
        driver.now(),
      )
      violations.push(...out)
      return out
    })
  return { metaLeader, statuses, checkQuorum, violations }
}

/** Groups whose latest configuration (among `all`'s replicas) lacks a majority on `up` nodes. */
const quorumViolations = (
  all: ReadonlyMap<NodeId, ReadonlyArray<GroupStatus>>,
  up: ReadonlySet<NodeId>,
  now: number,
): string[] => {
  const latest = new Map<GroupId, GroupStatus>()
  for (const groups of all.values())
    for (const g of groups) {
      const best = latest.get(g.groupId)
      if (best === undefined || g.confVersion > best.confVersion) latest.set(g.groupId, g)
    }
  const ok = (voters: ReadonlyArray<number>) =>
    voters.length === 0 || voters.filter((v) => up.has(nodeOfReplica(v as never))).length > voters.length / 2
  const out: string[] = []
  for (const [group, g] of latest)
    if (!ok(g.incoming) || !ok(g.outgoing))
      out.push(
        `t=${now}: group ${group} at configuration ${g.confVersion} lost its quorum: voters ${g.incoming.join(",")}${g.outgoing.length > 0 ? ` / outgoing ${g.outgoing.join(",")}` : ""}, running nodes ${[...up].join(",")}`,
      )
  return out
}

/** Builds a simulated managed cluster; it stops when the scope closes. */
export const make = (options: PlacementSimOptions): Effect.Effect<PlacementSim, SimFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const seed = options.seed >>> 0
    const cluster = options.cluster ?? "sim"
    const driver = yield* SimDriver.make({
      epochMs: EPOCH_MS,
      keepLogLines: options.keepLogLines ?? 300,
      nodeLabel: (n) => `[n${n}]`,
      exclusiveLog: true,
    })
    const { network, bus, clientBus } = yield* sharedInfrastructure(driver, seed, cluster)
    const nodes = SimNodes.make<Slot, unknown>({
      driver,
      network,
      bus,
      loopDeathEndsNode: options.loopDeathEndsNode,
      incarnation: (slot, services) =>
        StartNode.nodeServices(nodeOptions(options, seed, cluster, slot), {
          store: Layer.merge(
            // The store on the node's disk, through its fault plan when it has one.
            slot.plan === undefined
              ? services.store
              : Layer.scoped(LogStore, Effect.orDie(MemoryLogStore.make(slot.disk, slot.plan))),
            Layer.succeed(GroupCatalog, slot.catalog),
          ),
          transport: services.transport,
        }).pipe(Layer.provide(services.bus)),
    })
    const parts: Parts = {
      seed,
      cluster,
      driver,
      nodes,
      clientBus,
      violations: [],
      diskPlan: options.diskPlan,
    }
    const sim: PlacementSim = {
      ...timeApi(parts),
      ...metaApi(parts),
      ...nodesApi(parts),
      ...observeApi(parts),
      network,
      clientBus,
      note: (text) => note(driver, text),
      loopDeaths: nodes.loopDeaths,
      takeLoopDeaths: () => nodes.loopDeaths.splice(0),
    }
    for (let i = 0; i < (options.nodes ?? 3); i++) yield* sim.addNode()
    return sim
  })

/** Runs `body` on a new simulation; any failure names the seed, the time and the last log lines. */
export const runSim = <A, E = SimFailed>(
  options: PlacementSimOptions,
  body: (sim: PlacementSim) => Effect.Effect<A, E>,
): Promise<A> => {
  let sim: PlacementSim | undefined
  return Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        sim = yield* make(options)
        const out = yield* body(sim)
        if (sim.loopDeaths.length > 0)
          return yield* Effect.die(
            new SimFailed(`loops died (a process would have exited): ${sim.loopDeaths.join("; ")}`),
          )
        return out
      }),
    ).pipe(
      Effect.catchAllCause((cause) => {
        const logs = sim?.logs().slice(-60) ?? []
        const message = [
          `[seed ${options.seed}, t=${sim?.now() ?? 0} ms] ${Cause.pretty(cause)}`,
          `  replay: FLOTILLA_SEED=${options.seed} ${options.replay ?? "npx vitest run --config test/vitest.config.ts <this test file>"}`,
          ...(sim !== undefined && sim.violations.length > 0
            ? ["  violations:", ...sim.violations.slice(0, 20)]
            : []),
          ...(logs.length > 0 ? ["  last log lines:", ...logs.map((l) => `    ${l}`)] : []),
        ].join("\n")
        return Effect.die(new SimFailed(message))
      }),
    ),
  )
}
