/**
 * Wiring of one production node: LevelDB log store in the data directory, one NATS
 * connection shared by the Raft transport and the request bus, the node engine, and its admin
 * endpoint. `flotilla start` runs this layer until SIGINT/SIGTERM.
 *
 * Two ways to run:
 * - managed (`mode: "bootstrap" | "join"`, the default): the node belongs to a cluster run by
 *   the metadata group. Its identity comes from `<dataDir>/identity.json`, or from bootstrapping
 *   the cluster (node 1), or from registering on the meta subject (NodeIdentity.ts). Besides the
 *   engine it runs the metadata agent (heartbeats, shard map, local replicas), the meta endpoint
 *   and the placement driver (both active only while this node leads group 0), and the KV
 *   gateway (`<prefix>.<c>.kv`, queue group `kv`). Its kinds are the metadata group's and the
 *   KV store (or `kinds`). With `memory`, it runs over an in-process bus and network instead
 *   of NATS (`flotilla dev` without a nats-server).
 * - static (`mode: "static"`, with `nodeId`): no metadata group. `staticGroups` bootstraps
 *   groups 1..count with fixed members on first start (benchmarks and multi-process tests).
 */
import { hostname } from "node:os"
import { Effect, Layer } from "effect"
import { Kv } from "../../shards/kv/Kv.js"
import * as KvGateway from "../client/KvGateway.js"
import type { Labels } from "../meta/ClusterState.js"
import * as MetaAgent from "../meta/MetaAgent.js"
import { bootstrapCluster } from "../meta/MetaBootstrap.js"
import type { SettingsPatch } from "../meta/MetaCommand.js"
import * as MetaEndpoint from "../meta/MetaEndpoint.js"
import { metaShardKind } from "../meta/MetaShardKind.js"
import * as NodeIdentity from "../meta/NodeIdentity.js"
import * as ShardMapCache from "../meta/ShardMapCache.js"
import * as Driver from "../placement/Driver.js"
import { GroupId, NodeId, nodeOfReplica, replicaIdOf } from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"
import { checksumKind } from "../runtime/ChecksumMachine.js"
import * as EntityShardKind from "../runtime/entity/EntityShardKind.js"
import * as GroupCatalog from "../runtime/GroupCatalog.js"
import { Node, NodeLive, type NodeSettings } from "../runtime/Node.js"
import * as NodeAdmin from "../runtime/NodeAdmin.js"
import type { ShardKind } from "../runtime/ShardKind.js"
import * as LogStore from "../storage/LogStore.js"
import * as Bus from "../transport/Bus.js"
import type { MemoryBus } from "../transport/MemoryBus.js"
import type { MemoryNetwork } from "../transport/MemoryNetwork.js"
import * as NatsConnection from "../transport/NatsConnection.js"
import * as Transport from "../transport/Transport.js"

/** How to run one node (the flags of `flotilla start`). */
export interface StartNodeOptions {
  /** How the node joins a cluster (default: "static" when `nodeId` is given, else "join"). */
  readonly mode?: "static" | "bootstrap" | "join"
  /** Static mode only: this node's id. */
  readonly nodeId?: number
  readonly dataDir: string
  readonly cluster: string
  readonly subjectPrefix?: string
  readonly nats: NatsConnection.NatsConnectionOptions
  readonly settings?: Partial<typeof NodeSettings.Encoded>
  /** Static mode: the kind of every group (default: the test checksum machine). */
  readonly kindOf?: (groupId: GroupId) => ShardKind
  readonly staticGroups?: { readonly count: number; readonly members: readonly number[] }
  /** Managed mode: the node's display name (default: the host name). */
  readonly name?: string
  /** Managed mode: the node's labels (`zone` is its failure domain). */
  readonly labels?: Labels
  /** Bootstrap only: the new cluster's settings. */
  readonly clusterSettings?: SettingsPatch
  /** Managed mode: the shard kinds besides the metadata group's (default: the KV store). */
  readonly kinds?: ReadonlyArray<ShardKind>
  /** Managed mode: between heartbeats to the metadata leader (default 1,000 ms). */
  readonly reportIntervalMs?: number
  /** Managed mode: between placement passes on the metadata leader (default 500 ms). */
  readonly placementIntervalMs?: number
  /** Managed mode: an in-process bus and Raft network instead of NATS (`nats` is then unused). */
  readonly memory?: { readonly bus: MemoryBus; readonly network: MemoryNetwork }
}

/** The mode `options` ask for. */
export const modeOf = (options: StartNodeOptions): "static" | "bootstrap" | "join" =>
  options.mode ?? (options.nodeId !== undefined || options.staticGroups !== undefined ? "static" : "join")

/** Bootstraps the static groups this node is a member of and does not hold yet. */
const bootstrapStatic = (options: StartNodeOptions, self: NodeId) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const sg = options.staticGroups
      if (sg === undefined) return
      const node = yield* Node
      if (!sg.members.includes(self)) return
      const voters: ReplicaId[] = sg.members.map((m) => replicaIdOf(NodeId(m)))
      const held = new Set((yield* node.groups).map((g) => g.groupId))
      for (let g = 1; g <= sg.count; g++) {
        const groupId = GroupId(g)
        if (held.has(groupId)) continue
        const replicaId = voters.find((v) => nodeOfReplica(v) === self)!
        // Group g's first leader is member (g mod n): leaders start spread, without elections racing.
        const campaign = sg.members[(g - 1) % sg.members.length] === self
        yield* node.createGroup({ groupId, replicaId, bootstrap: { voters }, campaign }).pipe(Effect.orDie)
      }
    }),
  )

const storeLayer = (dataDir: string) =>
  Layer.merge(LogStore.layerLevel(dataDir), GroupCatalog.layerFile(dataDir))

/** A node with a fixed id and no metadata group. */
const staticLayer = (options: StartNodeOptions) => {
  if (options.nodeId === undefined) throw new RangeError("a static node needs its nodeId")
  const nodeId = NodeId(options.nodeId)
  const nats = NatsConnection.layer({ name: `flotilla-node-${nodeId}`, ...options.nats })
  const transport = Transport.layerNatsConnection({
    cluster: options.cluster,
    nodeId,
    subjectPrefix: options.subjectPrefix,
  })
  const io = Layer.mergeAll(transport, Bus.layerNats).pipe(Layer.provideMerge(nats))
  const node = NodeLive({
    nodeId,
    cluster: options.cluster,
    subjectPrefix: options.subjectPrefix,
    kindOf: options.kindOf ?? (() => checksumKind),
    settings: options.settings,
  })
  const admin = NodeAdmin.layer({ cluster: options.cluster, subjectPrefix: options.subjectPrefix })
  return Layer.mergeAll(admin, bootstrapStatic(options, nodeId)).pipe(
    Layer.provideMerge(node),
    Layer.provide(Layer.merge(io, storeLayer(options.dataDir))),
  )
}

/** The node of a cluster managed by the metadata group, once its identity is known. */
const managedNode = <R>(
  options: StartNodeOptions,
  identity: NodeIdentity.Identity,
  name: string,
  transport: Layer.Layer<Transport.Transport, never, R>,
) => {
  const { cluster, subjectPrefix } = options
  const nodeId = identity.nodeId
  const labels = options.labels ?? {}
  const shardKinds = options.kinds ?? [EntityShardKind.make(Kv)]
  const kinds = [metaShardKind, ...shardKinds]
  const fallback = shardKinds[0] ?? metaShardKind
  const node = Layer.unwrapEffect(
    Effect.map(ShardMapCache.ShardMapCache, (cache) =>
      NodeLive({
        nodeId,
        cluster,
        subjectPrefix,
        kinds,
        kindOf: (g) => (g === 0 ? metaShardKind : fallback),
        ownsSlot: cache.ownsSlot,
        settings: options.settings,
      }),
    ),
  )
  const bootstrap =
    modeOf(options) === "bootstrap"
      ? Layer.effectDiscard(
          bootstrapCluster({
            identity,
            onBootstrapped: NodeIdentity.markBootstrapped(options.dataDir, identity),
            name,
            labels,
            settings: options.clusterSettings,
          }).pipe(Effect.orDie),
        )
      : Layer.empty
  const services = Layer.mergeAll(
    NodeAdmin.layer({ cluster, subjectPrefix }),
    KvGateway.layer({ cluster, subjectPrefix }),
    MetaEndpoint.layer({ cluster, subjectPrefix }),
    Driver.layer({ cluster, subjectPrefix, intervalMs: options.placementIntervalMs }),
    MetaAgent.layer({
      cluster,
      subjectPrefix,
      token: identity.token,
      name,
      labels,
      kinds: kinds.map((k) => k.name),
      reportIntervalMs: options.reportIntervalMs,
    }),
  )
  return services.pipe(
    Layer.provide(bootstrap),
    Layer.provideMerge(node),
    Layer.provideMerge(Layer.mergeAll(ShardMapCache.layer, MetaEndpoint.reportsLayer)),
    Layer.provide(Layer.merge(transport, storeLayer(options.dataDir))),
  )
}

/** A node of a cluster managed by the metadata group (see the module comment). */
const managedLayer = (options: StartNodeOptions) => {
  const mode = modeOf(options)
  if (mode === "static") throw new RangeError("not a managed mode")
  const name = options.name ?? hostname()
  const identity = NodeIdentity.layer({
    dataDir: options.dataDir,
    cluster: options.cluster,
    subjectPrefix: options.subjectPrefix,
    mode,
    name,
    labels: options.labels ?? {},
  })
  const node = <R>(transport: (nodeId: NodeId) => Layer.Layer<Transport.Transport, never, R>) =>
    Layer.unwrapEffect(
      Effect.map(NodeIdentity.NodeIdentity, (id) => managedNode(options, id, name, transport(id.nodeId))),
    ).pipe(Layer.provideMerge(identity))
  const { cluster, subjectPrefix } = options
  if (options.memory !== undefined) {
    const { bus, network } = options.memory
    return node((nodeId) => Transport.layerMemory(network, nodeId)).pipe(
      Layer.provideMerge(Bus.layerMemory(bus)),
    )
  }
  const nats = NatsConnection.layer({ name: `flotilla-node-${name}`, ...options.nats })
  return node((nodeId) => Transport.layerNatsConnection({ cluster, nodeId, subjectPrefix })).pipe(
    Layer.provideMerge(Layer.provideMerge(Bus.layerNats, nats)),
  )
}

/** Every service of a running node, built from `options`. */
export const layer = (options: StartNodeOptions) =>
  modeOf(options) === "static" ? staticLayer(options) : managedLayer(options)
