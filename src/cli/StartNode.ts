/**
 * Wiring of one production node: LevelDB log store in the data directory, one NATS
 * connection shared by the Raft transport and the request bus, the node engine, and its admin
 * endpoint. `flotilla start` runs this layer until SIGINT/SIGTERM.
 *
 * `staticGroups` bootstraps groups 1..count with fixed members on first start (benchmarks and
 * multi-process tests); clusters managed by the metadata group do not use it.
 */
import { Effect, Layer } from "effect"
import { GroupId, NodeId, nodeOfReplica, replicaIdOf } from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"
import { checksumKind } from "../runtime/ChecksumMachine.js"
import * as GroupCatalog from "../runtime/GroupCatalog.js"
import { Node, NodeLive, type NodeSettings } from "../runtime/Node.js"
import * as NodeAdmin from "../runtime/NodeAdmin.js"
import type { ShardKind } from "../runtime/ShardKind.js"
import * as LogStore from "../storage/LogStore.js"
import * as Bus from "../transport/Bus.js"
import * as NatsConnection from "../transport/NatsConnection.js"
import * as Transport from "../transport/Transport.js"

export interface StartNodeOptions {
  readonly nodeId: number
  readonly dataDir: string
  readonly cluster: string
  readonly subjectPrefix?: string
  readonly nats: NatsConnection.NatsConnectionOptions
  readonly settings?: Partial<typeof NodeSettings.Encoded>
  readonly kindOf?: (groupId: GroupId) => ShardKind
  readonly staticGroups?: { readonly count: number; readonly members: readonly number[] }
}

/** Bootstraps the static groups this node is a member of and does not hold yet. */
const bootstrapStatic = (options: StartNodeOptions) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const sg = options.staticGroups
      if (sg === undefined) return
      const node = yield* Node
      const self = NodeId(options.nodeId)
      if (!sg.members.includes(self)) return
      const voters: ReplicaId[] = sg.members.map((m) => replicaIdOf(NodeId(m)))
      const held = new Set((yield* node.groups).map((g) => g.groupId))
      for (let g = 1; g <= sg.count; g++) {
        const groupId = GroupId(g)
        if (held.has(groupId)) continue
        const replicaId = voters.find((v) => nodeOfReplica(v) === self)!
        yield* node.createGroup({ groupId, replicaId, bootstrap: { voters } }).pipe(Effect.orDie)
      }
    }),
  )

/** Every service of a running node, built from `options`. */
export const layer = (options: StartNodeOptions) => {
  const nodeId = NodeId(options.nodeId)
  const nats = NatsConnection.layer({ name: `flotilla-node-${nodeId}`, ...options.nats })
  const transport = Transport.layerNatsConnection({
    cluster: options.cluster,
    nodeId,
    subjectPrefix: options.subjectPrefix,
  })
  const io = Layer.mergeAll(transport, Bus.layerNats).pipe(Layer.provideMerge(nats))
  const store = Layer.merge(LogStore.layerLevel(options.dataDir), GroupCatalog.layerFile(options.dataDir))
  const node = NodeLive({
    nodeId,
    cluster: options.cluster,
    subjectPrefix: options.subjectPrefix,
    kindOf: options.kindOf ?? (() => checksumKind),
    settings: options.settings,
  })
  const admin = NodeAdmin.layer({ cluster: options.cluster, subjectPrefix: options.subjectPrefix })
  return Layer.mergeAll(admin, bootstrapStatic(options)).pipe(
    Layer.provideMerge(node),
    Layer.provide(Layer.merge(io, store)),
  )
}
