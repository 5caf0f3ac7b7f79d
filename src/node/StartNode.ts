/**
 * The composition root of one production node: LevelDB log store in the data directory, one
 * NATS connection shared by the Raft transport and the request bus, the node engine, and its
 * admin endpoint. `flotilla start` runs this layer until SIGINT/SIGTERM.
 *
 * The node belongs to a cluster run by the metadata group (`mode: "bootstrap" | "join"`). Its identity comes from `<dataDir>/identity.json`, or from bootstrapping
 *   the cluster (node 1), or from registering on the meta subject (NodeIdentity.ts). Besides the
 *   engine it runs the metadata agent (heartbeats, shard map, local replicas), the meta endpoint
 *   and the placement driver (both active only while this node leads group 0), and the KV
 *   gateway (`<prefix>.<c>.kv`, queue group `kv`). Its kinds are the metadata group's and the
 *   KV store (or `kinds`). With `memory`, it runs over an in-process bus and network instead
 *   of NATS (`flotilla dev` without a nats-server).
 *
 * Nodes of fixed groups without a metadata group (benchmarks, multi-process tests of the
 * engine) are `src/testing/StaticNode.ts`.
 */
import { hostname } from "node:os"
import { Effect, Layer } from "effect"
import { Kv } from "../../shards/kv/Kv.js"
import type { Labels } from "../meta/ClusterState.js"
import type { SettingsPatch } from "../meta/MetaCommand.js"
import { metaShardKind } from "../meta/MetaShardKind.js"
import type { NodeId } from "../raft/Ids.js"
import * as EntityShardKind from "../runtime/entity/EntityShardKind.js"
import * as GroupCatalog from "../runtime/GroupCatalog.js"
import { NodeLive, type NodeSettings } from "../runtime/Node.js"
import type { ShardKind } from "../runtime/ShardKind.js"
import * as LogStore from "../storage/LogStore.js"
import * as Bus from "../transport/Bus.js"
import type { MemoryBus } from "../transport/MemoryBus.js"
import type { MemoryNetwork } from "../transport/MemoryNetwork.js"
import * as NatsConnection from "../transport/NatsConnection.js"
import * as Transport from "../transport/Transport.js"
import * as KvGateway from "./KvGateway.js"
import * as MetaAgent from "./MetaAgent.js"
import { bootstrapCluster } from "./MetaBootstrap.js"
import * as MetaEndpoint from "./MetaEndpoint.js"
import * as NodeAdmin from "./NodeAdmin.js"
import * as NodeIdentity from "./NodeIdentity.js"
import * as NodeShardMap from "./NodeShardMap.js"
import * as Driver from "./PlacementDriver.js"

/** How to run one node (the flags of `flotilla start`). */
export interface StartNodeOptions {
  /** How the node joins its cluster: create it ("bootstrap") or register with it ("join", the default). */
  readonly mode?: "bootstrap" | "join"
  readonly dataDir: string
  readonly cluster: string
  readonly subjectPrefix?: string
  readonly nats: NatsConnection.NatsConnectionOptions
  readonly settings?: Partial<typeof NodeSettings.Encoded>
  /** The node's display name (default: the host name). */
  readonly name?: string
  /** The node's labels (`zone` is its failure domain). */
  readonly labels?: Labels
  /** Bootstrap only: the new cluster's settings. */
  readonly clusterSettings?: SettingsPatch
  /** The shard kinds besides the metadata group's (default: the KV store). */
  readonly kinds?: ReadonlyArray<ShardKind>
  /** Between heartbeats to the metadata leader (default 1,000 ms). */
  readonly reportIntervalMs?: number
  /** Between placement passes on the metadata leader (default 500 ms). */
  readonly placementIntervalMs?: number
  /** An in-process bus and Raft network instead of NATS (`nats` is then unused). */
  readonly memory?: { readonly bus: MemoryBus; readonly network: MemoryNetwork }
}

/** The durable state of a node in `dataDir`: its LevelDB log store and its group catalog. */
export const storeLayer = (dataDir: string) =>
  Layer.merge(LogStore.layerLevel(dataDir), GroupCatalog.layerFile(dataDir))

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
    Effect.map(NodeShardMap.NodeShardMap, (cache) =>
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
    options.mode === "bootstrap"
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
    Layer.provideMerge(Layer.mergeAll(NodeShardMap.layer, MetaEndpoint.reportsLayer)),
    Layer.provide(Layer.merge(transport, storeLayer(options.dataDir))),
  )
}

/** Every service of a running node, built from `options` (see the module comment). */
export const layer = (options: StartNodeOptions) => {
  const mode = options.mode ?? "join"
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
