/**
 * An in-process cluster for client tests: N `NodeLive` nodes over a `MemoryNetwork` and a
 * `MemoryBus`, each with its own in-memory disk (so a stopped node restarts with its log),
 * hosting keyspaces of entity kinds. The shard map comes from a real `MetaStateMachine`
 * (bootstrap, node registration, `CreateKeyspace`), and a test-local responder answers
 * metadata queries on `flotilla.<c>.meta` with it. The groups are created on the nodes the
 * metadata state places them on. Each node serves its admin endpoint. Nothing here moves replicas: that is the placement driver's.
 */
import { Context, Effect, Exit, Layer, Option, Ref, Scope } from "effect"
import * as KvShardKind from "../../../shards/kv/KvShardKind.js"
import * as Router from "../../../src/client/Router.js"
import type { ClusterState } from "../../../src/meta/ClusterState.js"
import * as MetaCommand from "../../../src/meta/MetaCommand.js"
import { MetaStateMachine } from "../../../src/meta/MetaStateMachine.js"
import { keyspaceOfKind } from "../../../src/meta/ShardMapIndex.js"
import { shardOfSlot } from "../../../src/meta/Slots.js"
import * as NodeAdmin from "../../../src/node/NodeAdmin.js"
import * as NodeObservations from "../../../src/node/NodeObservations.js"
import * as NodeShardMap from "../../../src/node/NodeShardMap.js"
import { GroupId, NodeId, nodeOfReplica } from "../../../src/raft/Ids.js"
import type { AnyKind } from "../../../src/runtime/entity/EntityKind.js"
import { EntityShardKind } from "../../../src/runtime/entity/index.js"
import { Node, NodeLive, type NodeService } from "../../../src/runtime/Node.js"
import type { ShardKind } from "../../../src/runtime/ShardKind.js"
import * as LogStore from "../../../src/storage/LogStore.js"
import * as MemoryLogStore from "../../../src/storage/MemoryLogStore.js"
import * as Bus from "../../../src/transport/Bus.js"
import * as MemoryBus from "../../../src/transport/MemoryBus.js"
import * as MemoryNetwork from "../../../src/transport/MemoryNetwork.js"
import { clusterSubjects } from "../../../src/transport/Subjects.js"
import * as Transport from "../../../src/transport/Transport.js"

export interface MemoryClusterOptions {
  readonly kinds: ReadonlyArray<AnyKind>
  readonly nodes?: number
  /** Shards per keyspace. */
  readonly shards?: number
  readonly cluster?: string
  readonly seed?: number
  readonly tickMs?: number
  /** The admin endpoint's `status` page size (default: NodeAdmin's). */
  readonly adminStatusPageBytes?: number
}

export interface MemoryCluster {
  readonly cluster: string
  readonly bus: MemoryBus.MemoryBus
  readonly network: MemoryNetwork.MemoryNetwork
  /** The metadata state the responder serves (see `setServedState`). */
  readonly state: ClusterState
  /**
   * A `Bus` for a client of this cluster, delivering like NATS: request payloads arrive as
   * Node `Buffer`s (whose `slice` is a view, not a copy), and each answer is handed over after
   * a `setImmediate` hop (an in-memory cluster otherwise completes everything in microtasks,
   * and a client that keeps it busy starves every timer of the process).
   */
  readonly clientBus: Layer.Layer<Bus.Bus>
  /** The running node, if it is running. */
  readonly node: (id: number) => Option.Option<NodeService>
  /** Stops a node (its scope closes: a clean stop, waiting callers get `NodeStopping`). */
  readonly stop: (id: number) => Effect.Effect<void>
  /** Starts a stopped node again on its disk. */
  readonly start: (id: number) => Effect.Effect<void>
  /** The node leading `group` now, if one does. */
  readonly leaderOf: (group: number) => Effect.Effect<Option.Option<number>>
  /** Waits until every group has a leader. */
  readonly awaitLeaders: Effect.Effect<void>
  /** Replaces the state the metadata responder answers with (to serve a stale map). */
  readonly setServedState: (state: ClusterState) => Effect.Effect<void>
  /** The group ids of a keyspace. */
  readonly groupsOf: (keyspace: string) => ReadonlyArray<number>
}

const must = <A>(r: MetaCommand.MetaResponse, tag: string): A => {
  if (r._tag !== tag) throw new Error(`metadata command refused: ${JSON.stringify(r)}`)
  return r as A
}

const macrotask = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** The bus of `layer`, NATS-like (see `MemoryCluster.clientBus`). */
const yielding = (layer: Layer.Layer<Bus.Bus>): Layer.Layer<Bus.Bus> =>
  Layer.effect(
    Bus.Bus,
    Effect.map(Bus.Bus, (bus) => ({
      ...bus,
      request: (subject, data, options) =>
        Effect.zipLeft(bus.request(subject, Buffer.from(data), options), macrotask),
    })),
  ).pipe(Layer.provide(layer))

/** Builds the metadata state of `nodes` nodes with one keyspace per kind. */
export const metaState = (
  cluster: string,
  nodes: number,
  keyspaces: ReadonlyArray<{ readonly name: string; readonly kind: string }>,
  shards: number,
): ClusterState => {
  const sm = new MetaStateMachine()
  const kinds = [...new Set(keyspaces.map((k) => k.kind))]
  must(
    sm.applyCommand(
      MetaCommand.Bootstrap.make({
        cluster,
        token: "n1",
        name: "n1",
        labels: {},
        kinds,
        settings: {},
        at: 1,
      }),
    ),
    "Bootstrapped",
  )
  for (let i = 2; i <= nodes; i++)
    must(
      sm.applyCommand(
        MetaCommand.RegisterNode.make({ token: `n${i}`, name: `n${i}`, labels: {}, kinds, at: 1 }),
      ),
      "NodeRegistered",
    )
  for (const { name, kind } of keyspaces)
    must(
      sm.applyCommand(
        MetaCommand.CreateKeyspace.make({
          name,
          kind,
          shards,
          replicationFactor: Math.min(3, nodes),
          at: 1,
        }),
      ),
      "KeyspaceCreated",
    )
  return sm.state()
}

/** Starts the cluster in the current scope. */
export const make = (options: MemoryClusterOptions): Effect.Effect<MemoryCluster, never, Scope.Scope> =>
  Effect.gen(function* () {
    const cluster = options.cluster ?? "t"
    const nodeCount = options.nodes ?? 3
    const network = yield* MemoryNetwork.make({ seed: options.seed ?? 1, cluster })
    const bus = yield* MemoryBus.make()
    const kinds = new Map<string, ShardKind>()
    const keyspaceKind = new Map<string, string>()
    for (const k of options.kinds) {
      // The KV kind is hosted as nodes host it: the multi-version KV shard.
      kinds.set(k.name, k.name === KvShardKind.KIND ? KvShardKind.make() : EntityShardKind.make(k))
      keyspaceKind.set(keyspaceOfKind(k.name), k.name)
    }
    const state = metaState(
      cluster,
      nodeCount,
      [...keyspaceKind].map(([name, kind]) => ({ name, kind })),
      options.shards ?? 4,
    )
    const served = yield* Ref.make(state)
    const groupKeyspace = new Map<number, string>(
      state.groups.filter((g) => g.id !== 0).map((g) => [g.id, g.keyspace]),
    )
    const kindOfGroup = (g: number): ShardKind => kinds.get(keyspaceKind.get(groupKeyspace.get(g) ?? "")!)!
    const ownsSlot = (group: number, slot: number) => {
      const ks = state.keyspaces.find((k) => k.name === groupKeyspace.get(group))
      if (ks === undefined) return undefined
      return shardOfSlot(ks, slot)?.group === group
    }

    // The metadata responder: real query answers from the state.
    const scope = yield* Effect.scope
    const metaBus = yield* Layer.buildWithScope(Bus.layerMemory(bus), scope)
    yield* Bus.serve(clusterSubjects(cluster).meta, (msg) =>
      Effect.map(Ref.get(served), (s) => new MetaStateMachine(s).query(msg.data)),
    ).pipe(Effect.provide(metaBus), Effect.orDie)

    const disks = new Map<number, MemoryLogStore.MemoryDisk>()
    const running = new Map<number, { node: NodeService; scope: Scope.CloseableScope }>()
    const layerOf = (id: number) => {
      let disk = disks.get(id)
      if (disk === undefined) disks.set(id, (disk = new MemoryLogStore.MemoryDisk()))
      const store = Layer.scoped(LogStore.LogStore, Effect.orDie(MemoryLogStore.make(disk)))
      const node = NodeLive({
        nodeId: NodeId(id),
        cluster,
        kinds: [...kinds.values()],
        kindOf: (g) => kindOfGroup(g),
        ownsSlot,
        settings: { tickMs: options.tickMs ?? 10, livenessIntervalMs: 100, livenessTimeoutMs: 600 },
      })
      return NodeAdmin.layer({
        cluster,
        ...(options.adminStatusPageBytes !== undefined
          ? { statusPageBytes: options.adminStatusPageBytes }
          : {}),
      }).pipe(
        // Health and readiness in the admin summary (no metadata agent here: never ready).
        Layer.provide(Layer.merge(NodeObservations.layer, NodeShardMap.layer)),
        Layer.provideMerge(node),
        Layer.provide(Layer.mergeAll(store, Transport.layerMemory(network, NodeId(id)))),
        Layer.provide(Bus.layerMemory(bus)),
      )
    }
    const start = (id: number) =>
      Effect.gen(function* () {
        if (running.has(id)) return
        const nodeScope = yield* Scope.make()
        const ctx = yield* Layer.buildWithScope(layerOf(id), nodeScope).pipe(Effect.orDie)
        running.set(id, { node: Context.get(ctx, Node), scope: nodeScope })
      })
    const stop = (id: number) =>
      Effect.gen(function* () {
        const r = running.get(id)
        if (r === undefined) return
        running.delete(id)
        yield* Scope.close(r.scope, Exit.void)
      })
    yield* Effect.addFinalizer(() => Effect.forEach([...running.keys()], stop, { discard: true }))

    for (let id = 1; id <= nodeCount; id++) yield* start(id)
    for (const g of state.groups) {
      if (g.id === 0) continue
      const voters = g.replicas.filter((r) => r.role === "voter").map((r) => r.id)
      for (const replicaId of voters) {
        const host = running.get(nodeOfReplica(replicaId))!
        yield* host.node
          .createGroup({
            groupId: GroupId(g.id),
            replicaId,
            kind: kindOfGroup(g.id).name,
            bootstrap: { voters },
          })
          .pipe(Effect.orDie)
      }
    }

    const leaderOf = (group: number) =>
      Effect.gen(function* () {
        for (const [id, r] of running) {
          const st = yield* r.node.status(GroupId(group))
          if (Option.isSome(st) && st.value.isLeader) return Option.some(id)
        }
        return Option.none()
      })
    const groups = state.groups.filter((g) => g.id !== 0).map((g) => g.id)
    const awaitLeaders = Effect.gen(function* () {
      for (;;) {
        let all = true
        for (const g of groups) if (Option.isNone(yield* leaderOf(g))) all = false
        if (all) return
        yield* Effect.sleep("20 millis")
      }
    })
    yield* awaitLeaders

    return {
      cluster,
      bus,
      network,
      state,
      clientBus: yielding(Bus.layerMemory(bus)),
      node: (id) => Option.map(Option.fromNullable(running.get(id)), (r) => r.node),
      stop,
      start,
      leaderOf,
      awaitLeaders,
      setServedState: (s) => Ref.set(served, s),
      groupsOf: (keyspace) =>
        state.keyspaces.find((k) => k.name === keyspace)?.shards.map((s) => s.group) ?? [],
    } satisfies MemoryCluster
  })

/**
 * `n` clients of `cluster` built by `open` (a Promise client over the router layer given), each
 * over its own router and so its own sessions; closed when the scope closes.
 */
export const promiseClients = <C extends { close(): Promise<void> }>(
  cluster: MemoryCluster,
  n: number,
  open: (router: Layer.Layer<Router.Router>) => Promise<C>,
): Effect.Effect<C[], never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() =>
      Promise.all(
        Array.from({ length: n }, () =>
          open(Router.layer({ cluster: cluster.cluster }).pipe(Layer.provide(cluster.clientBus))),
        ),
      ),
    ),
    (cs) => Effect.promise(() => Promise.all(cs.map((c) => c.close()))),
  )
