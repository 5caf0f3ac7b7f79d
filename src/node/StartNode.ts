/**
 * The composition root of one node of a managed cluster. `nodeServices` is what every such
 * node runs once its identity is known: the engine, the metadata agent (heartbeats, shard map,
 * local replicas), the meta endpoint and the placement driver (both active only while this
 * node leads group 0), the admin endpoint and the KV gateway (`<prefix>.<c>.kv`, queue group
 * `kv`), over a store, a Raft transport and a bus given to it. Its kinds are the metadata
 * group's and the KV store (or `kinds`).
 *
 * `layer` is the production node on top of it, which `flotilla start` runs until
 * SIGINT/SIGTERM: a LevelDB log store and group catalog in the data directory, one NATS
 * connection shared by the Raft transport and the request bus (with `memory`, an in-process
 * bus and network instead: `flotilla dev` without a nats-server), and an identity from
 * `<dataDir>/identity.json`, from bootstrapping the cluster (node 1, `mode: "bootstrap"`) or
 * from registering on the meta subject (`mode: "join"`, NodeIdentity.ts). The placement
 * simulation (src/testing/PlacementSim.ts) runs the same `nodeServices` over in-memory
 * stores, network and bus, on virtual time.
 *
 * Nodes of fixed groups without a metadata group (benchmarks, multi-process tests of the
 * engine) are `src/testing/StaticNode.ts`.
 */
import { hostname } from "node:os"
import { Effect, Layer } from "effect"
import * as KvShardKind from "../../shards/kv/KvShardKind.js"
import { type Labels, META_GROUP } from "../meta/ClusterState.js"
import type { SettingsPatch } from "../meta/MetaCommand.js"
import { metaShardKind } from "../meta/MetaShardKind.js"
import type { NodeId } from "../raft/Ids.js"
import * as GroupCatalog from "../runtime/GroupCatalog.js"
import { type NodeConfig, NodeLive, type NodeSettings } from "../runtime/Node.js"
import type { ShardKind } from "../runtime/ShardKind.js"
import * as LogStore from "../storage/LogStore.js"
import * as Bus from "../transport/Bus.js"
import type { ClusterSecret } from "../transport/ClusterSecret.js"
import type { MemoryBus } from "../transport/MemoryBus.js"
import type { MemoryNetwork } from "../transport/MemoryNetwork.js"
import * as NatsConnection from "../transport/NatsConnection.js"
import * as Transport from "../transport/Transport.js"
import * as KvGateway from "./KvGateway.js"
import * as MetaAgent from "./MetaAgent.js"
import { bootstrapCluster } from "./MetaBootstrap.js"
import * as MetaEndpoint from "./MetaEndpoint.js"
import * as NodeAdmin from "./NodeAdmin.js"
import * as NodeHttp from "./NodeHttp.js"
import * as NodeIdentity from "./NodeIdentity.js"
import * as NodeObservations from "./NodeObservations.js"
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
  /**
   * The HTTP endpoint (`/metrics`, `/health`, `/ready`, the dashboard; NodeHttp.ts): default
   * 127.0.0.1 on a free port (its address is in `NodeObservations.http`); false: none.
   */
  readonly http?: NodeHttp.NodeHttpOptions | false
  /**
   * The cluster secret (`--cluster-secret-file`): Raft frames and liveness pings are
   * authenticated with it (docs/security.md). Every node of the cluster must hold the same.
   */
  readonly clusterSecret?: ClusterSecret
}

/** The durable state of a node in `dataDir`: its LevelDB log store and its group catalog. */
export const storeLayer = (dataDir: string) =>
  Layer.merge(LogStore.layerLevel(dataDir), GroupCatalog.layerFile(dataDir))

/**
 * What one node of a managed cluster runs once its identity is known, whatever it runs on:
 * production nodes (`layer`) and simulated ones (src/testing/PlacementSim.ts) alike. Times
 * are the clock's (Effect's `Clock`, virtual in a simulation); the intervals, timeouts and
 * Raft settings below are the clock-dependent choices.
 */
export interface NodeServicesOptions {
  readonly identity: NodeIdentity.Identity
  readonly cluster: string
  readonly subjectPrefix?: string
  /** The node's display name. */
  readonly name: string
  /** The node's labels (`zone` is its failure domain). */
  readonly labels?: Labels
  /** The shard kinds besides the metadata group's (default: the KV store). */
  readonly kinds?: ReadonlyArray<ShardKind>
  readonly settings?: NodeConfig["settings"]
  /** Raft settings of every replica (a simulation's seeded election jitter). */
  readonly raft?: NodeConfig["raft"]
  /** Signs and checks liveness pings (the platform's transport seals frames with the same). */
  readonly clusterSecret?: ClusterSecret
  /**
   * Present when this node creates the cluster (`--bootstrap`): the new cluster's settings,
   * and how to record durably that it exists (`NodeIdentity.markBootstrapped`).
   */
  readonly bootstrap?: {
    readonly settings?: SettingsPatch
    readonly onBootstrapped: Effect.Effect<void, { readonly message: string }>
  }
  /** The metadata agent's heartbeat interval and request timeout. */
  readonly agent?: Pick<MetaAgent.MetaAgentOptions, "reportIntervalMs" | "requestTimeoutMs">
  /** The placement driver's intervals and timeouts. */
  readonly driver?: Omit<Driver.DriverOptions, "cluster" | "subjectPrefix">
  /** The KV gateway's settings. */
  readonly gateway?: Omit<KvGateway.KvGatewayOptions, "cluster" | "subjectPrefix">
}

/** What a node runs on, besides the `Bus` it finds in the context. */
export interface NodePlatform<E, R> {
  /** Its durable state: the log store and the group catalog (`storeLayer`). */
  readonly store: Layer.Layer<LogStore.LogStore | GroupCatalog.GroupCatalog, E, R>
  /** Its Raft transport. */
  readonly transport: Layer.Layer<Transport.Transport, E, R>
}

/**
 * Every service of a node of a managed cluster (see the module comment) over `platform` and
 * the `Bus` in the context (the node's one connection, which its identity was resolved on):
 * the engine, the shard-map cache, the meta reports; then the bootstrap when asked; then the
 * admin endpoint, the KV gateway, the meta endpoint, the placement driver and the metadata agent.
 */
export const nodeServices = <E, R>(options: NodeServicesOptions, platform: NodePlatform<E, R>) => {
  const { cluster, subjectPrefix, identity, name } = options
  const labels = options.labels ?? {}
  const shardKinds = options.kinds ?? [KvShardKind.make()]
  const kinds = [metaShardKind, ...shardKinds]
  const fallback = shardKinds[0] ?? metaShardKind
  const node = Layer.unwrapEffect(
    Effect.map(NodeShardMap.NodeShardMap, (cache) =>
      NodeLive({
        nodeId: identity.nodeId,
        cluster,
        subjectPrefix,
        kinds,
        kindOf: (g) => (g === META_GROUP ? metaShardKind : fallback),
        ownsSlot: cache.ownsSlot,
        settings: options.settings,
        raft: options.raft,
        clusterSecret: options.clusterSecret,
      }),
    ),
  )
  const bootstrap =
    options.bootstrap === undefined
      ? Layer.empty
      : Layer.effectDiscard(
          bootstrapCluster({
            identity,
            onBootstrapped: options.bootstrap.onBootstrapped,
            name,
            labels,
            kinds: shardKinds.map((k) => k.name),
            settings: options.bootstrap.settings,
          }).pipe(Effect.orDie),
        )
  const services = Layer.mergeAll(
    NodeAdmin.layer({ cluster, subjectPrefix }),
    KvGateway.layer({ ...options.gateway, cluster, subjectPrefix }),
    MetaEndpoint.layer({ cluster, subjectPrefix }),
    Driver.layer({ ...options.driver, cluster, subjectPrefix }),
    MetaAgent.layer({
      ...options.agent,
      cluster,
      subjectPrefix,
      token: identity.token,
      name,
      labels,
      kinds: kinds.map((k) => k.name),
    }),
  )
  return services.pipe(
    Layer.provide(bootstrap),
    Layer.provideMerge(node),
    Layer.provideMerge(Layer.mergeAll(NodeShardMap.layer, MetaEndpoint.reportsLayer, NodeObservations.layer)),
    Layer.provide(Layer.merge(platform.transport, platform.store)),
  )
}

/** The services of a production node with identity `identity` (see `nodeServices`). */
const productionServices = (
  options: StartNodeOptions,
  identity: NodeIdentity.Identity,
  name: string,
): NodeServicesOptions => ({
  identity,
  cluster: options.cluster,
  subjectPrefix: options.subjectPrefix,
  name,
  labels: options.labels,
  kinds: options.kinds,
  settings: options.settings,
  clusterSecret: options.clusterSecret,
  bootstrap:
    options.mode === "bootstrap"
      ? {
          settings: options.clusterSettings,
          onBootstrapped: NodeIdentity.markBootstrapped(options.dataDir, identity),
        }
      : undefined,
  agent: { reportIntervalMs: options.reportIntervalMs },
  driver: { intervalMs: options.placementIntervalMs },
})

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
    kinds: (options.kinds ?? [KvShardKind.make()]).map((k) => k.name),
  })
  const node = <R>(transport: (nodeId: NodeId) => Layer.Layer<Transport.Transport, never, R>) =>
    Layer.unwrapEffect(
      Effect.map(NodeIdentity.NodeIdentity, (id) =>
        nodeServices(productionServices(options, id, name), {
          store: storeLayer(options.dataDir),
          transport: transport(id.nodeId),
        }),
      ),
    ).pipe(Layer.provideMerge(identity))
  const { cluster, subjectPrefix } = options
  const withHttp = <A, E, R>(services: Layer.Layer<A, E, R>) =>
    options.http === false
      ? services
      : Layer.provideMerge(
          NodeHttp.layer({ ...(options.http ?? { port: 0 }), dashboard: { cluster, subjectPrefix } }),
          services,
        )
  if (options.memory !== undefined) {
    const { bus, network } = options.memory
    const { clusterSecret } = options
    return withHttp(
      node((nodeId) => Transport.layerMemory(network, nodeId, { clusterSecret })).pipe(
        Layer.provideMerge(Bus.layerMemory(bus)),
      ),
    )
  }
  const nats = NatsConnection.layer({ name: `flotilla-node-${name}`, ...options.nats })
  const { clusterSecret } = options
  return withHttp(
    node((nodeId) => Transport.layerNatsConnection({ cluster, nodeId, subjectPrefix, clusterSecret })).pipe(
      Layer.provideMerge(Layer.provideMerge(Bus.layerNats, nats)),
    ),
  )
}
