/**
 * A node of fixed groups, without a metadata group: groups 1..count with fixed members,
 * bootstrapped on first start, hosting one kind (by default the checksum test machine). The
 * engine's benchmarks and multi-process tests run it; production nodes are `src/node/StartNode.ts`.
 *
 * `static-node-main.ts` is its command line, which `NodeProcess` runs for `mode: "static"`.
 */
import { Effect, Layer } from "effect"
import * as NodeAdmin from "../node/NodeAdmin.js"
import { storeLayer } from "../node/StartNode.js"
import { GroupId, NodeId, nodeOfReplica, replicaIdOf } from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"
import { Node, NodeLive, type NodeSettings } from "../runtime/Node.js"
import type { ShardKind } from "../runtime/ShardKind.js"
import * as Bus from "../transport/Bus.js"
import type { ClusterSecret } from "../transport/ClusterSecret.js"
import * as NatsConnection from "../transport/NatsConnection.js"
import * as Transport from "../transport/Transport.js"
import { checksumKind } from "./ChecksumMachine.js"

/** How to run one static node. */
export interface StaticNodeOptions {
  readonly nodeId: number
  readonly dataDir: string
  readonly cluster: string
  readonly subjectPrefix?: string
  readonly nats: NatsConnection.NatsConnectionOptions
  readonly settings?: Partial<typeof NodeSettings.Encoded>
  /** The kind of every group (default: the checksum test machine). */
  readonly kindOf?: (groupId: GroupId) => ShardKind
  /** Groups 1..count, each with these members (node ids); none when absent. */
  readonly groups?: { readonly count: number; readonly members: readonly number[] }
  /** Authenticates frames and liveness pings (ClusterSecret.ts); none: unauthenticated. */
  readonly clusterSecret?: ClusterSecret
}

/** Bootstraps the static groups this node is a member of and does not hold yet. */
const bootstrapGroups = (options: StaticNodeOptions, self: NodeId) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const sg = options.groups
      if (sg === undefined || !sg.members.includes(self)) return
      const node = yield* Node
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

/** Every service of a static node: store, NATS transport and bus, engine, admin endpoint. */
export const layer = (options: StaticNodeOptions) => {
  const nodeId = NodeId(options.nodeId)
  const nats = NatsConnection.layer({ name: `flotilla-node-${nodeId}`, ...options.nats })
  const transport = Transport.layerNatsConnection({
    cluster: options.cluster,
    nodeId,
    subjectPrefix: options.subjectPrefix,
    clusterSecret: options.clusterSecret,
  })
  const io = Layer.mergeAll(transport, Bus.layerNats).pipe(Layer.provideMerge(nats))
  const node = NodeLive({
    nodeId,
    cluster: options.cluster,
    subjectPrefix: options.subjectPrefix,
    kindOf: options.kindOf ?? (() => checksumKind),
    settings: options.settings,
    clusterSecret: options.clusterSecret,
  })
  const admin = NodeAdmin.layer({ cluster: options.cluster, subjectPrefix: options.subjectPrefix })
  return Layer.mergeAll(admin, bootstrapGroups(options, nodeId)).pipe(
    Layer.provideMerge(node),
    Layer.provide(Layer.merge(io, storeLayer(options.dataDir))),
  )
}
