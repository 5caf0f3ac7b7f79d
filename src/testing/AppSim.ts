/**
 * A deterministic cluster for an application's own entity kinds: N managed nodes (the placement
 * simulation, PlacementSim.ts: every node runs what `flotilla start` runs, over in-memory
 * disks, network and bus, on virtual time) hosting the application's `ShardKind`s and the KV
 * store, its keyspaces created at the start, typed clients inside, and faults as methods.
 *
 * ```ts
 * it("keeps every acknowledged increment", () =>
 *   AppSim.runSim(
 *     { seed: 7, kinds: [EntityShardKind.make(Counter)], keyspaces: [{ name: "counter", kind: "Counter", shards: 2 }] },
 *     (sim) =>
 *       Effect.gen(function* () {
 *         const adds = sim.fork(Effect.repeatN(Counter.client("a").Add({ by: 1 }), 49))
 *         yield* sim.killLeader("counter", "a")
 *         yield* sim.join(adds)
 *         expect(yield* sim.run(Counter.client("a").Get())).toBe(50)
 *       }),
 *   ))
 * ```
 *
 * CLIENTS: `run(effect)` and `fork(effect)` run an effect inside the simulation with `AppClients`
 * in its context: the `Router`, the entity sender (`Entities`: `Kind.client(id).Op(...)`), the
 * `KvClient` and `KvRevClient`, over one bus connection of the test (exactly-once sessions for
 * commands). Calls time out after `client.deadlineMs` of virtual time (default 30 s).
 *
 * FAULTS: `crash` / `restart` (the disk keeps what was written), `isolate` (the node loses its
 * NATS connection) / `heal`, `partition(...nodeSets)` and `cut(from, to)` (one way) of Raft
 * traffic, `linkFaults` (loss, delay, duplication, reordering per link or on every link),
 * `skewClock(node, { offsetMs, drift })` (the node's clock, SimClock.ts),
 * `killLeader(keyspace, key | { shard })`, `diskFault(node, kind)` (AppSimDisk.ts: failed write,
 * failed sync, full disk, corruption) and `clearDiskFault`, and membership changes while
 * clients run: `addNode`, `drain`, `remove`, `setReplicationFactor`. `chaos` plays a seeded
 * random schedule of them (AppSimChaos.ts). A node whose loop dies (a failed write) is down from
 * that instant, as the production process exits (decision 0071); `takeLoopDeaths` returns the
 * deaths, and `runSim` fails on any the test did not take.
 *
 * THE SEED decides the network's draws, every node incarnation's election jitter, the clients'
 * retry jitter and the chaos schedule: the same seed and test replay the same run. `runSim`
 * reports every failure with the seed, the virtual time, the one-line replay and the last log
 * lines (PlacementSim's report). `seeds([...])` reads `FLOTILLA_SEED` to replay one seed.
 */
import { Context, Effect, Fiber, Random, type Scope } from "effect"
import * as Entities from "../client/Entities.js"
import * as KvClient from "../client/KvClient.js"
import * as KvRevClient from "../client/KvRevClient.js"
import * as Router from "../client/Router.js"
import { GroupId, type NodeId } from "../raft/Ids.js"
import { EntitySender } from "../runtime/entity/EntityClient.js"
import { Bus } from "../transport/Bus.js"
import type { LinkFaultsInput } from "../transport/MemoryNetwork.js"
import type { ChaosOptions, ChaosReport } from "./AppSimChaos.js"
import * as AppSimChaos from "./AppSimChaos.js"
import { arm, type DiskFault, SimDiskPlan } from "./AppSimDisk.js"
import * as Shards from "./AppSimShards.js"
import * as PlacementSim from "./PlacementSim.js"
import { SimFailed } from "./PlacementSim.js"
import { mixSeed } from "./RuntimeSimSeed.js"
import type { ClockSkew } from "./SimClock.js"

export type { ChaosFault, ChaosOptions, ChaosReport } from "./AppSimChaos.js"
export type { DiskFault } from "./AppSimDisk.js"
export type { ShardTarget } from "./AppSimShards.js"
export { SimFailed } from "./PlacementSim.js"
export { seeds } from "./RuntimeSimSeed.js"
export type { ClockSkew } from "./SimClock.js"

/** A keyspace created at the start. */
export interface AppKeyspace {
  readonly name: string
  /** The kind of its shards: a `ShardKind` name (an entity kind's name), default `kv`. */
  readonly kind?: string
  readonly shards: number
  /** Voters per shard (default: the cluster's, 3). */
  readonly replicationFactor?: number
}

/** How to build the cluster. */
export interface AppSimOptions
  extends Omit<PlacementSim.PlacementSimOptions, "diskPlan" | "loopDeathEndsNode"> {
  /** Created at the start, each replicated and led before the test's body runs. */
  readonly keyspaces?: ReadonlyArray<AppKeyspace>
  /** The clients' router: default deadline (default 30,000 ms) and attempt timeout (1,000 ms). */
  readonly client?: { readonly deadlineMs?: number; readonly attemptTimeoutMs?: number }
}

/** What `run` and `fork` provide. */
export type AppClients = Router.Router | Bus | EntitySender | KvClient.KvClient | KvRevClient.KvRevClient

/** The running cluster (see the module comment). */
export interface AppSim {
  readonly seed: number
  /** The placement simulation underneath: metadata requests, statuses, checks, the network. */
  readonly placement: PlacementSim.PlacementSim
  /** Virtual milliseconds since the start. */
  readonly now: () => number
  readonly logs: () => ReadonlyArray<string>
  /** Runs `effect` with the clients inside the simulation, driving time until it is done. */
  readonly run: <A, E>(
    effect: Effect.Effect<A, E, AppClients>,
    what?: string,
    timeoutMs?: number,
  ) => Effect.Effect<A, E | SimFailed>
  /** Starts `effect` with the clients inside the simulation; it runs whenever time is driven. */
  readonly fork: <A, E>(effect: Effect.Effect<A, E, AppClients>) => Fiber.RuntimeFiber<A, E>
  /** Drives time until `fiber` is done; its result. */
  readonly join: <A, E>(
    fiber: Fiber.RuntimeFiber<A, E>,
    timeoutMs?: number,
  ) => Effect.Effect<A, E | SimFailed>
  /** Lets virtual time pass. */
  readonly advance: (millis: number) => Effect.Effect<void>
  /** Drives time until `cond` (run inside the simulation) holds. */
  readonly until: PlacementSim.PlacementSim["until"]
  readonly nodeIds: () => ReadonlyArray<NodeId>
  readonly upNodes: () => NodeId[]
  readonly isUp: (node: number) => boolean
  /** The node dies at once; its disk keeps what was written. */
  readonly crash: (node: number) => Effect.Effect<void, SimFailed>
  /** A crashed node starts again on its disk. */
  readonly restart: (node: number) => Effect.Effect<void, SimFailed>
  /** The node loses its NATS connection: Raft frames and bus messages, both ways. */
  readonly isolate: (node: number) => Effect.Effect<void>
  /** Raft traffic flows only within each set (nodes not named form one more set). */
  readonly partition: (...nodeSets: ReadonlyArray<ReadonlyArray<number>>) => Effect.Effect<void>
  /** Raft traffic from `from` to `to` is lost; the other way still flows. */
  readonly cut: (from: number, to: number) => Effect.Effect<void>
  /** Undoes every isolation, partition and cut (not the link faults). */
  readonly heal: Effect.Effect<void>
  /** Loss, delay, duplication, reordering of Raft frames on one link (`from` → `to`) or all. */
  readonly linkFaults: (
    faults: LinkFaultsInput,
    link?: { readonly from: number; readonly to: number },
  ) => Effect.Effect<void>
  /** Removes every link fault. */
  readonly clearLinkFaults: Effect.Effect<void>
  /**
   * The node's clock gets an offset and/or a drift from now on, kept across its restarts
   * (SimClock.ts: only the node's own fibers read it; clients and the test stay on base time).
   */
  readonly skewClock: (node: number, skew: ClockSkew) => Effect.Effect<void>
  /** The group of a keyspace's shard: the one owning an entity id / KV key, or the `shard`-th. */
  readonly groupOf: (keyspace: string, target: Shards.ShardTarget) => Effect.Effect<number, SimFailed>
  /** The node leading that shard now (the highest term among running nodes), if any. */
  readonly leaderOf: (
    keyspace: string,
    target: Shards.ShardTarget,
  ) => Effect.Effect<NodeId | undefined, SimFailed>
  /** Waits for that shard's leader and crashes its node; the node. */
  readonly killLeader: (keyspace: string, target: Shards.ShardTarget) => Effect.Effect<NodeId, SimFailed>
  /** Arms a disk fault on the node's store (AppSimDisk.ts); corruption of one group with `group`. */
  readonly diskFault: (
    node: number,
    fault: DiskFault,
    options?: { readonly group?: number },
  ) => Effect.Effect<void>
  /** Disarms every disk fault of the node (space freed, the disk healthy again). */
  readonly clearDiskFault: (node: number) => Effect.Effect<void>
  /** Takes the loop deaths recorded so far (`node <n>: flotilla: loop <name> died: <cause>`). */
  readonly takeLoopDeaths: () => string[]
  /** Starts a node that joins the cluster; its id. */
  readonly addNode: (labels?: Record<string, string>) => Effect.Effect<NodeId, SimFailed>
  /** Marks the node draining: placement moves its replicas away (while clients run). */
  readonly drain: (node: number) => Effect.Effect<void, SimFailed>
  /** Drains the node, waits until it holds no replica, retires it (`removed`) and stops it. */
  readonly remove: (node: number, timeoutMs?: number) => Effect.Effect<void, SimFailed>
  /** Changes a keyspace's replication factor: placement adds or removes replicas. */
  readonly setReplicationFactor: (keyspace: string, factor: number) => Effect.Effect<void, SimFailed>
  /** Waits until every group is fully replicated on running nodes, hosted as recorded and led once. */
  readonly settled: (timeoutMs?: number) => Effect.Effect<void, SimFailed>
  /** Plays a seeded random fault schedule (AppSimChaos.ts), undoing each fault before the next. */
  readonly chaos: (options: ChaosOptions) => Effect.Effect<ChaosReport, SimFailed>
}

/** Client settings that fit the simulation's time scale. */
const DEFAULT_DEADLINE_MS = 30_000
const DEFAULT_ATTEMPT_TIMEOUT_MS = 1_000

/** The clients of the test, over its bus connection. */
const clientContext = (placement: PlacementSim.PlacementSim, options: AppSimOptions) => {
  const router = Router.makeWith(placement.clientBus, {
    cluster: options.cluster ?? "sim",
    deadline: `${options.client?.deadlineMs ?? DEFAULT_DEADLINE_MS} millis`,
    attemptTimeout: `${options.client?.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS} millis`,
  })
  return Context.make(Router.Router, router).pipe(
    Context.add(Bus, placement.clientBus),
    Context.add(EntitySender, Entities.make(router)),
    Context.add(KvClient.KvClient, KvClient.make(router)),
    Context.add(KvRevClient.KvRevClient, KvRevClient.make(router)),
  )
}

/** Creates the keyspaces and waits until each is replicated and led. */
const createKeyspaces = (placement: PlacementSim.PlacementSim, keyspaces: ReadonlyArray<AppKeyspace>) =>
  Effect.gen(function* () {
    for (const k of keyspaces) {
      const reply = yield* placement.meta({
        _tag: "CreateKeyspace",
        name: k.name,
        shards: k.shards,
        replicationFactor: k.replicationFactor ?? 0,
        ...(k.kind === undefined ? {} : { kind: k.kind }),
      })
      if (reply._tag !== "KeyspaceCreated")
        return yield* Effect.fail(
          new SimFailed(`keyspace ${k.name}: the metadata group answered ${JSON.stringify(reply)}`),
        )
    }
    if (keyspaces.length > 0) yield* Shards.settled(placement, "the keyspaces replicated and led", 60_000)
  })

/** The application cluster over a running placement simulation (see `make`). */
const over = (
  placement: PlacementSim.PlacementSim,
  options: AppSimOptions,
  plans: ReadonlyMap<number, SimDiskPlan>,
): AppSim => {
  const clients = clientContext(placement, options)
  let runs = 0
  // Each run and fork has its own retry jitter, drawn from the seed and its rank.
  const inSim = <A, E>(effect: Effect.Effect<A, E, AppClients>) =>
    Effect.withRandom(Effect.provide(effect, clients), Random.make(mixSeed(placement.seed, 0xa99, runs++)))
  const planOf = (node: number) => {
    const plan = plans.get(node)
    if (plan === undefined) throw new RangeError(`no node ${node} in this simulation`)
    return plan
  }
  const noted = (text: string) => Effect.sync(() => placement.note(text))
  const sim: AppSim = {
    seed: placement.seed,
    placement,
    now: placement.now,
    logs: placement.logs,
    run: (effect, what, timeoutMs) => placement.run(inSim(effect), what, timeoutMs),
    fork: (effect) => placement.fork(inSim(effect)),
    join: (fiber, timeoutMs) => placement.run(Fiber.join(fiber), "joining a client fiber", timeoutMs),
    advance: placement.advance,
    until: placement.until,
    nodeIds: placement.nodeIds,
    upNodes: placement.upNodes,
    isUp: placement.isUp,
    crash: placement.crash,
    restart: placement.restart,
    isolate: placement.isolate,
    partition: (...sets) =>
      Effect.zipRight(
        noted(`partition ${sets.map((s) => `{${s.join(",")}}`).join(" ")}`),
        placement.network.partition(...sets.map((s) => s.map((n) => n as NodeId))),
      ),
    cut: (from, to) =>
      Effect.zipRight(noted(`cut n${from} -> n${to}`), placement.network.block(from as NodeId, to as NodeId)),
    heal: placement.heal,
    linkFaults: (faults, link) =>
      Effect.zipRight(
        noted(
          `link faults ${link === undefined ? "on every link" : `n${link.from} -> n${link.to}`}: ${JSON.stringify(faults)}`,
        ),
        placement.network.setFaults(
          faults,
          link === undefined ? undefined : { from: link.from as NodeId, to: link.to as NodeId },
        ),
      ),
    clearLinkFaults: Effect.zipRight(noted("clear link faults"), placement.network.clearFaults),
    skewClock: (node, skew) =>
      Effect.zipRight(
        noted(`skew the clock of n${node}: ${JSON.stringify(skew)}`),
        placement.skewClock(node, skew),
      ),
    groupOf: (keyspace, target) => Shards.groupOf(placement, keyspace, target),
    leaderOf: (keyspace, target) => Shards.leaderOf(placement, keyspace, target),
    killLeader: (keyspace, target) => Shards.killLeader(placement, keyspace, target),
    diskFault: (node, fault, o) =>
      Effect.sync(() => {
        placement.note(
          `disk fault on n${node}: ${fault}${o?.group === undefined ? "" : ` (group ${o.group})`}`,
        )
        arm(
          planOf(node),
          placement.disk(node),
          fault,
          o?.group === undefined ? {} : { group: GroupId(o.group) },
        )
      }),
    clearDiskFault: (node) =>
      Effect.sync(() => {
        placement.note(`clear disk faults of n${node}`)
        planOf(node).clear()
      }),
    takeLoopDeaths: placement.takeLoopDeaths,
    addNode: placement.addNode,
    drain: (node) => Shards.setNodeState(placement, node, "draining"),
    remove: (node, timeoutMs) => Shards.remove(placement, node, timeoutMs),
    setReplicationFactor: (keyspace, factor) => Shards.setReplicationFactor(placement, keyspace, factor),
    settled: (timeoutMs) => Shards.settled(placement, "the cluster settled", timeoutMs),
    chaos: (o) => AppSimChaos.play(sim, { keyspaces: (options.keyspaces ?? []).map((k) => k.name), ...o }),
  }
  return sim
}

/** The placement options of an application cluster, and the disk plans they give its nodes. */
const placementOptions = (options: AppSimOptions) => {
  const plans = new Map<number, SimDiskPlan>()
  const placement: PlacementSim.PlacementSimOptions = {
    ...options,
    diskPlan: (node) => {
      const plan = new SimDiskPlan()
      plans.set(node, plan)
      return plan
    },
    loopDeathEndsNode: true,
  }
  return { placement, plans }
}

/** Builds the cluster and its keyspaces; it stops when the scope closes. */
export const make = (options: AppSimOptions): Effect.Effect<AppSim, SimFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const { placement, plans } = placementOptions(options)
    const p = yield* PlacementSim.make(placement)
    yield* createKeyspaces(p, options.keyspaces ?? [])
    return over(p, options, plans)
  })

/**
 * Runs `body` on a new cluster; any failure (an error, a failed expectation, a loop death the
 * test did not take) names the seed, the virtual time, the replay line and the last log lines.
 */
export const runSim = <A, E>(
  options: AppSimOptions,
  body: (sim: AppSim) => Effect.Effect<A, E>,
): Promise<A> => {
  const { placement, plans } = placementOptions(options)
  return PlacementSim.runSim(placement, (p) =>
    Effect.flatMap(createKeyspaces(p, options.keyspaces ?? []), () => body(over(p, options, plans))),
  )
}
