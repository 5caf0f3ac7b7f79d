/**
 * A deterministic simulation of a whole managed cluster: real `NodeLive` nodes over one
 * `MemoryNetwork`, one `MemoryBus` and a `MemoryDisk` store each, every node running what
 * `flotilla start` runs in a managed cluster (the metadata agent, the meta endpoint, the
 * placement driver, the admin endpoint), on virtual time (src/testing/RuntimeSimTime.ts) with
 * crash fences (src/testing/RuntimeFence.ts). Node 1 bootstraps the cluster; the others join by
 * registering on the meta subject, exactly as `--join` does (identity files aside: tokens are
 * kept here). The test plays operators (meta requests) and faults (crash, restart).
 *
 * The seed decides the network's draws and every node incarnation's election jitter; the
 * same seed replays the same run. `runSim` reports a failure with its seed, the virtual time,
 * the replay command and the last log lines.
 *
 * `checkQuorum` is the safety invariant the scenarios sample as time passes: every group's
 * latest applied configuration (the highest configuration version among running replicas)
 * keeps a majority of voters on running nodes, in both halves of a joint configuration.
 */
import {
  Cause,
  Context,
  Effect,
  ExecutionStrategy,
  Exit,
  type Fiber,
  FiberId,
  FiberRef,
  HashSet,
  Layer,
  Logger,
  LogLevel,
  Schema,
  Scope,
} from "effect"
import { Kv } from "../../shards/kv/Kv.js"
import { callUntilAnswered } from "../../src/client/MetaCall.js"
import { type ClusterState, META_GROUP, type Settings } from "../../src/meta/ClusterState.js"
import type { MetaReply, MetaRequestInput } from "../../src/meta/MetaProtocol.js"
import { MetaRequest } from "../../src/meta/MetaProtocol.js"
import { metaShardKind } from "../../src/meta/MetaShardKind.js"
import * as MetaAgent from "../../src/node/MetaAgent.js"
import { bootstrapCluster } from "../../src/node/MetaBootstrap.js"
import * as MetaEndpoint from "../../src/node/MetaEndpoint.js"
import * as NodeAdmin from "../../src/node/NodeAdmin.js"
import * as NodeShardMap from "../../src/node/NodeShardMap.js"
import * as Driver from "../../src/node/PlacementDriver.js"
import { type GroupId, NodeId, nodeOfReplica } from "../../src/raft/Ids.js"
import { seededRand } from "../../src/raft/Rand.js"
import * as EntityShardKind from "../../src/runtime/entity/EntityShardKind.js"
import { GroupCatalog, type GroupCatalogService } from "../../src/runtime/GroupCatalog.js"
import { type GroupStatus, Node, NodeLive, type NodeService } from "../../src/runtime/Node.js"
import { MemoryDisk } from "../../src/storage/MemoryLogStore.js"
import { Fence, fencedNodeServices } from "../../src/testing/RuntimeFence.js"
import { VirtualTime } from "../../src/testing/RuntimeSimTime.js"
import type { BusService } from "../../src/transport/Bus.js"
import * as MemoryBus from "../../src/transport/MemoryBus.js"
import * as MemoryNetwork from "../../src/transport/MemoryNetwork.js"
import { clusterSubjects } from "../../src/transport/Subjects.js"

/** Cluster settings that make scenarios converge in tens of virtual seconds. */
export const simClusterSettings: Partial<Settings> = {
  heartbeatTimeoutMs: 2_000,
  downTimeoutMs: 6_000,
  operatorTimeoutMs: 30_000,
  transferTimeoutMs: 5_000,
  maxOperatorsPerNode: 4,
  maxOperatorsPerCluster: 16,
}

export interface PlacementSimOptions {
  readonly seed: number
  /** Nodes started at once: node 1 bootstraps, the others join in order (default 3). */
  readonly nodes?: number
  readonly cluster?: string
  readonly clusterSettings?: Partial<Settings>
  /** Between heartbeats (default 500 ms). */
  readonly reportIntervalMs?: number
  /** Between placement passes (default 250 ms). */
  readonly placementIntervalMs?: number
  /** Log lines kept for failure reports (default 300). */
  readonly keepLogLines?: number
}

/** A condition was not reached in time, or a check failed. */
export class SimFailed extends Error {
  constructor(message: string) {
    super(message)
    this.name = "SimFailed"
  }
}

interface Incarnation {
  readonly node: NodeService
  readonly scope: Scope.CloseableScope
  readonly fence: Fence
}

interface Slot {
  readonly id: NodeId
  readonly token: string
  readonly disk: MemoryDisk
  readonly catalog: GroupCatalogService
  readonly labels: Record<string, string>
  bootstrapped: boolean
  current: Incarnation | undefined
  starts: number
  isolated: boolean
}

const mix = (seed: number, a: number, b: number): number => {
  let z = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(a, 0x85ebca77) ^ Math.imul(b, 0xc2b2ae3d)) >>> 0
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0
  return (z ^ (z >>> 16)) >>> 0
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

const kvKind = EntityShardKind.make(Kv)

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
  /** Lets virtual time pass. */
  readonly advance: (millis: number) => Effect.Effect<void>
  /**
   * Drives time in steps of `stepMs` until `cond` holds (it runs inside the simulation);
   * `onStep` runs after every step (invariant checks).
   */
  readonly until: (
    what: string,
    cond: Effect.Effect<boolean>,
    options?: { readonly timeoutMs?: number; readonly stepMs?: number },
  ) => Effect.Effect<void, SimFailed>
  /** Raw bytes to the meta subject, once; the answer bytes. */
  readonly rawMeta: (bytes: Uint8Array) => Effect.Effect<Uint8Array, SimFailed>
  /** A request to the metadata leader, retried until it answers (runtime errors retried). */
  readonly meta: (request: MetaRequestInput) => Effect.Effect<MetaReply, SimFailed>
  /** Starts a new node that joins the cluster; its id. */
  readonly addNode: (labels?: Record<string, string>) => Effect.Effect<NodeId, SimFailed>
  readonly nodeIds: () => ReadonlyArray<NodeId>
  readonly isUp: (node: number) => boolean
  readonly upNodes: () => NodeId[]
  readonly node: (node: number) => NodeService | undefined
  /** The node dies at once (nothing more leaves it; its disk keeps what was written). */
  readonly crash: (node: number) => Effect.Effect<void, SimFailed>
  /** A crashed node starts again on its disk, as itself. */
  readonly restart: (node: number) => Effect.Effect<void, SimFailed>
  /** Cuts the node off Raft traffic and the bus (a lost NATS connection) until `heal`. */
  readonly isolate: (node: number) => Effect.Effect<void>
  /** Undoes every `isolate`. */
  readonly heal: Effect.Effect<void>
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
}

/** Builds a simulated managed cluster; it stops when the scope closes. */
export const make = (options: PlacementSimOptions): Effect.Effect<PlacementSim, SimFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const seed = options.seed >>> 0
    const cluster = options.cluster ?? "sim"
    const subjects = clusterSubjects(cluster)
    const time = new VirtualTime(1_700_000_000_000)
    const keep = options.keepLogLines ?? 300
    const ring: string[] = []
    const violations: string[] = []
    const logger = Logger.make(({ logLevel, message, annotations, cause }) => {
      const node = annotations.pipe((a) => {
        for (const [k, v] of a) if (k === "node") return v
        return undefined
      })
      const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
      const why = Cause.isEmpty(cause) ? "" : ` | ${Cause.pretty(cause).split("\n")[0]}`
      ring.push(
        `t=${time.now() - 1_700_000_000_000} ${node === undefined ? "" : `[n${node}] `}${logLevel.label} ${text}${why}`,
      )
      if (ring.length > keep) ring.splice(0, ring.length - keep)
    })
    const runtime = yield* Effect.runtime<never>()
    const inSim = <A, E>(effect: Effect.Effect<A, E>) =>
      effect.pipe(
        Effect.locally(FiberRef.currentLoggers, HashSet.make(logger)),
        Effect.locally(FiberRef.currentMinimumLogLevel, LogLevel.Info),
      )
    const fork = <A, E>(effect: Effect.Effect<A, E>): Fiber.RuntimeFiber<A, E> =>
      time.fork(runtime, inSim(effect))
    const run = <A, E>(effect: Effect.Effect<A, E>, what = "a simulated effect", timeoutMs = 600_000) =>
      Effect.gen(function* () {
        const fiber = fork(effect)
        yield* Effect.promise(() => time.advance(timeoutMs, () => fiber.unsafePoll() !== null))
        const exit = fiber.unsafePoll()
        if (exit !== null) return yield* exit
        fiber.unsafeInterruptAsFork(FiberId.none)
        yield* Effect.promise(() => time.settle())
        return yield* Effect.fail(
          new SimFailed(`${what} did not finish within ${timeoutMs} ms of virtual time`),
        )
      })

    const simScope = yield* Scope.make()
    yield* Effect.addFinalizer(() =>
      run(Scope.close(simScope, Exit.void), "stopping the simulation", 120_000).pipe(Effect.ignore),
    )

    const { network, bus, clientBus } = yield* run(
      Effect.gen(function* () {
        const network = yield* MemoryNetwork.make({ seed, cluster })
        const bus = yield* MemoryBus.make()
        const clientBus: BusService = yield* bus.connect
        return { network, bus, clientBus }
      }).pipe(Scope.extend(simScope)),
      "building the network",
    )

    const slots: Slot[] = []
    const slotOf = (n: number): Slot => {
      const s = slots[n - 1]
      if (s === undefined) throw new RangeError(`no node ${n}`)
      return s
    }

    const startIncarnation = (slot: Slot) =>
      Effect.gen(function* () {
        slot.starts++
        const scope = yield* Scope.fork(simScope, ExecutionStrategy.sequential)
        const fence = new Fence()
        fence.cut = slot.isolated
        const kinds = [metaShardKind, kvKind]
        const cacheLayer = NodeShardMap.layer
        const deps = Layer.mergeAll(
          fencedNodeServices({ id: slot.id, disk: slot.disk, network, bus, fence }),
          Layer.succeed(GroupCatalog, slot.catalog),
        )
        const nodeLayer = Layer.unwrapEffect(
          Effect.map(NodeShardMap.NodeShardMap, (cache) =>
            NodeLive({
              nodeId: slot.id,
              cluster,
              kinds,
              kindOf: (g) => (g === META_GROUP ? metaShardKind : kvKind),
              ownsSlot: cache.ownsSlot,
              settings: { tickMs: 50, electionTicks: 10, livenessIntervalMs: 500, livenessTimeoutMs: 1500 },
              raft: { rand: seededRand(mix(seed, slot.id, slot.starts)) },
            }),
          ),
        )
        const bootstrap =
          slot.id === 1 && !slot.bootstrapped
            ? Layer.effectDiscard(
                bootstrapCluster({
                  identity: { nodeId: slot.id, token: slot.token, cluster, bootstrapped: false, fresh: true },
                  name: `n${slot.id}`,
                  labels: slot.labels,
                  settings: options.clusterSettings ?? simClusterSettings,
                  onBootstrapped: Effect.sync(() => {
                    slot.bootstrapped = true
                  }),
                }).pipe(Effect.orDie),
              )
            : Layer.empty
        const services = Layer.mergeAll(
          NodeAdmin.layer({ cluster }),
          MetaEndpoint.layer({ cluster }),
          Driver.layer({
            cluster,
            intervalMs: options.placementIntervalMs ?? 250,
            retryMs: 1_000,
            warmupMs: 1_500,
            actionTimeoutMs: 5_000,
          }),
          MetaAgent.layer({
            cluster,
            token: slot.token,
            name: `n${slot.id}`,
            labels: slot.labels,
            kinds: kinds.map((k) => k.name),
            reportIntervalMs: options.reportIntervalMs ?? 500,
            requestTimeoutMs: 1_000,
          }),
        )
        const layer = services.pipe(
          Layer.provide(bootstrap),
          Layer.provideMerge(nodeLayer),
          Layer.provideMerge(Layer.mergeAll(cacheLayer, MetaEndpoint.reportsLayer)),
          Layer.provide(deps),
        )
        const built = yield* Effect.exit(Layer.buildWithScope(layer, scope))
        if (Exit.isFailure(built)) {
          yield* Scope.close(scope, built)
          return yield* Effect.failCause(built.cause)
        }
        return { node: Context.get(built.value, Node), scope, fence } satisfies Incarnation
      }).pipe(Effect.annotateLogs("node", slot.id))

    const newSlot = (labels: Record<string, string>): Slot => {
      const id = NodeId(slots.length + 1)
      const slot: Slot = {
        id,
        token: `token-${id}`,
        disk: new MemoryDisk(`node-${id}`),
        catalog: memoryCatalog(),
        labels,
        bootstrapped: false,
        current: undefined,
        starts: 0,
        isolated: false,
      }
      slots.push(slot)
      return slot
    }

    const meta = (request: MetaRequestInput) =>
      run(
        callUntilAnswered(clientBus, subjects.meta, Schema.decodeUnknownSync(MetaRequest)(request), {
          timeout: "1 second",
          deadline: "60 seconds",
        }),
        `meta request ${request._tag}`,
      ).pipe(Effect.mapError((e) => (e instanceof SimFailed ? e : new SimFailed(e.message))))

    const addNode = (labels: Record<string, string> = {}) =>
      Effect.gen(function* () {
        const slot = newSlot(labels)
        if (slot.id !== 1) {
          const reply = yield* meta({ _tag: "RegisterNode", token: slot.token, name: `n${slot.id}`, labels })
          if (reply._tag !== "NodeRegistered" || reply.node !== slot.id)
            return yield* Effect.fail(
              new SimFailed(`node ${slot.id} registration answered ${JSON.stringify(reply)}`),
            )
        }
        slot.current = yield* run(startIncarnation(slot), `starting node ${slot.id}`).pipe(
          Effect.catchAllCause((c) =>
            Effect.fail(new SimFailed(`node ${slot.id} did not start: ${Cause.pretty(c)}`)),
          ),
        )
        return slot.id
      })

    const isUp = (n: number) => slots[n - 1]?.current !== undefined
    const upNodes = () => slots.filter((s) => s.current !== undefined).map((s) => s.id)

    // Reading a node's status is synchronous: these observations run on any fiber.
    const statuses = () =>
      Effect.gen(function* () {
        const out = new Map<NodeId, ReadonlyArray<GroupStatus>>()
        for (const s of slots) if (s.current !== undefined) out.set(s.id, yield* s.current.node.groups)
        return out
      })

    const metaLeader = () =>
      Effect.map(statuses(), (all) => {
        for (const [id, groups] of all) {
          if (slotOf(id).isolated) continue
          const g0 = groups.find((g) => g.groupId === META_GROUP)
          if (g0?.isLeader !== true) continue
          const state = MetaEndpoint.localMetaState(slotOf(id).current!.node)
          if (state !== undefined) return { node: id, state }
        }
        return undefined
      })

    const checkQuorum = () =>
      Effect.map(statuses(), (all) => {
        const latest = new Map<GroupId, GroupStatus>()
        for (const groups of all.values())
          for (const g of groups) {
            const best = latest.get(g.groupId)
            if (best === undefined || g.confVersion > best.confVersion) latest.set(g.groupId, g)
          }
        // An isolated node is alive but reaches nobody: it does not count towards a quorum.
        const up = new Set(upNodes().filter((n) => !slotOf(n).isolated))
        const out: string[] = []
        for (const [group, g] of latest) {
          const ok = (voters: ReadonlyArray<number>) =>
            voters.length === 0 ||
            voters.filter((v) => up.has(nodeOfReplica(v as never))).length > voters.length / 2
          if (!ok(g.incoming) || !ok(g.outgoing))
            out.push(
              `t=${time.now() - 1_700_000_000_000}: group ${group} at configuration ${g.confVersion} lost its quorum: voters ${g.incoming.join(",")}${g.outgoing.length > 0 ? ` / outgoing ${g.outgoing.join(",")}` : ""}, running nodes ${[...up].join(",")}`,
            )
        }
        violations.push(...out)
        return out
      })

    const sim: PlacementSim = {
      seed,
      now: () => time.now() - 1_700_000_000_000,
      logs: () => [...ring],
      run,
      advance: (millis) => Effect.promise(() => time.advance(millis)).pipe(Effect.asVoid),
      until: (what, cond, o) =>
        Effect.gen(function* () {
          const limit = o?.timeoutMs ?? 120_000
          const step = o?.stepMs ?? 250
          const start = time.now()
          for (;;) {
            if (yield* run(cond, `checking ${what}`).pipe(Effect.orDie)) return
            if (time.now() - start >= limit)
              return yield* Effect.fail(
                new SimFailed(`${what}: not reached within ${limit} ms of virtual time`),
              )
            yield* Effect.promise(() => time.advance(step))
          }
        }),
      rawMeta: (bytes) =>
        run(clientBus.request(subjects.meta, bytes, { timeout: "1 second" }), "a raw meta request").pipe(
          Effect.mapError((e) => (e instanceof SimFailed ? e : new SimFailed(`raw meta request: ${e._tag}`))),
        ),
      meta,
      addNode,
      nodeIds: () => slots.map((s) => s.id),
      isUp,
      upNodes,
      node: (n) => slots[n - 1]?.current?.node,
      crash: (n) =>
        Effect.gen(function* () {
          const slot = slotOf(n)
          const inc = slot.current
          if (inc === undefined) return yield* Effect.fail(new SimFailed(`node ${n} is down already`))
          inc.fence.dead = true
          slot.disk.crash()
          slot.current = undefined
          ring.push(`t=${sim.now()} [test] crash n${n}`)
          yield* run(Scope.close(inc.scope, Exit.void), `tearing down node ${n}`).pipe(Effect.orDie)
        }),
      restart: (n) =>
        Effect.gen(function* () {
          const slot = slotOf(n)
          if (slot.current !== undefined) return yield* Effect.fail(new SimFailed(`node ${n} is running`))
          ring.push(`t=${sim.now()} [test] restart n${n}`)
          slot.current = yield* run(startIncarnation(slot), `restarting node ${n}`).pipe(
            Effect.catchAllCause((c) =>
              Effect.fail(new SimFailed(`node ${n} did not restart: ${Cause.pretty(c)}`)),
            ),
          )
        }),
      isolate: (n) =>
        Effect.gen(function* () {
          const slot = slotOf(n)
          slot.isolated = true
          if (slot.current !== undefined) slot.current.fence.cut = true
          ring.push(`t=${sim.now()} [test] isolate n${n}`)
          yield* network.isolate(slot.id)
        }),
      heal: Effect.gen(function* () {
        for (const slot of slots) {
          slot.isolated = false
          if (slot.current !== undefined) slot.current.fence.cut = false
        }
        ring.push(`t=${sim.now()} [test] heal`)
        yield* network.heal
      }),
      metaLeader,
      statuses,
      checkQuorum,
      violations,
    }
    for (let i = 0; i < (options.nodes ?? 3); i++) yield* addNode()
    return sim
  })

/**
 * Seeds for a test: `defaults`, or the comma-separated `FLOTILLA_SEED` to replay one
 * (`FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts <file>`).
 */
export const seeds = (defaults: ReadonlyArray<number>): number[] => {
  const env = process.env.FLOTILLA_SEED
  if (env !== undefined && env.trim() !== "") return env.split(",").map((s) => Number(s.trim()))
  return [...defaults]
}

/** Runs `body` on a new simulation; any failure names the seed, the time and the last log lines. */
export const runSim = <A>(
  options: PlacementSimOptions,
  body: (sim: PlacementSim) => Effect.Effect<A, SimFailed>,
): Promise<A> => {
  let sim: PlacementSim | undefined
  return Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        sim = yield* make(options)
        return yield* body(sim)
      }),
    ).pipe(
      Effect.catchAllCause((cause) => {
        const logs = sim?.logs().slice(-60) ?? []
        const message = [
          `[seed ${options.seed}, t=${sim?.now() ?? 0} ms] ${Cause.pretty(cause)}`,
          `  replay: FLOTILLA_SEED=${options.seed} npx vitest run --config test/vitest.config.ts <this test file>`,
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
