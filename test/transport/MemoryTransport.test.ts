import { Context, Effect, Layer } from "effect"
import type { NodeId } from "../../src/raft/Ids.js"
import * as MemoryNetwork from "../../src/transport/MemoryNetwork.js"
import type { TransportService } from "../../src/transport/Transport.js"
import * as Transport from "../../src/transport/Transport.js"
import { type TransportHarness, transportCompliance } from "./compliance.js"

let clusters = 0

const memoryHarness: TransportHarness = {
  make: (nodes, options = {}) =>
    Effect.gen(function* () {
      const network = yield* MemoryNetwork.make({ seed: 7, cluster: `mem${++clusters}` })
      const transports = new Map<NodeId, TransportService>()
      for (const node of nodes) {
        const context = yield* Layer.build(Transport.layerMemory(network, node, options))
        transports.set(node, Context.get(context, Transport.Transport))
      }
      return {
        cluster: network.cluster,
        transport: (node) => transports.get(node)!,
        inject: (to, kind, payload) => Effect.asVoid(network.inject(to, kind, payload)),
        published: (to, kind) =>
          Effect.gen(function* () {
            let total = 0
            for (const from of nodes) total += (yield* network.stats(from, to, kind)).published
            return total
          }),
      }
    }),
}

transportCompliance("memory", memoryHarness)
