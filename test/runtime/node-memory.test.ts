import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import { GroupId, NodeId, replicaIdOf } from "../../src/raft/Ids.js"
import { Node, NodeLive } from "../../src/runtime/Node.js"
import { decodeBatchReply, encodeBatch } from "../../src/runtime/RequestBatch.js"
import * as LogStore from "../../src/storage/LogStore.js"
import * as MemoryLogStore from "../../src/storage/MemoryLogStore.js"
import { checksumKind } from "../../src/testing/ChecksumMachine.js"
import * as Bus from "../../src/transport/Bus.js"
import * as MemoryBus from "../../src/transport/MemoryBus.js"
import * as MemoryNetwork from "../../src/transport/MemoryNetwork.js"
import * as Transport from "../../src/transport/Transport.js"

const enc = new TextEncoder()
const dec = new TextDecoder()

describe("NodeLive over the in-memory transport", () => {
  it.live("three nodes replicate a group", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* MemoryNetwork.make({ seed: 7, cluster: "t" })
        const bus = yield* MemoryBus.make()
        const nodeIds = [1, 2, 3].map(NodeId)
        const voters = nodeIds.map((n) => replicaIdOf(n))
        const nodes: Node["Type"][] = []
        for (const n of nodeIds) {
          const layer = NodeLive({
            nodeId: n,
            cluster: "t",
            kindOf: () => checksumKind,
            settings: { tickMs: 10 },
          }).pipe(
            Layer.provide(
              Layer.mergeAll(
                Layer.scoped(LogStore.LogStore, Effect.orDie(MemoryLogStore.make())),
                Transport.layerMemory(net, n),
                Bus.layerMemory(bus),
              ),
            ),
          )
          const ctx = yield* Layer.build(layer)
          nodes.push(Context.get(ctx, Node))
        }
        const g = GroupId(1)
        for (const [i, node] of nodes.entries()) {
          yield* node.createGroup({ groupId: g, replicaId: voters[i]!, bootstrap: { voters } })
        }
        // Propose through whichever node leads, retrying until a leader exists.
        const propose = (data: string) =>
          Effect.gen(function* () {
            for (;;) {
              for (const node of nodes) {
                const st = yield* node.status(g)
                if (Option.isSome(st) && st.value.isLeader) {
                  const r = yield* Effect.either(node.propose(g, enc.encode(data)))
                  if (r._tag === "Right") return dec.decode(r.right)
                }
              }
              yield* Effect.sleep("20 millis")
            }
          })
        let last = ""
        for (let i = 0; i < 20; i++) last = yield* propose(`cmd-${i}`)
        expect(JSON.parse(last).count).toBe(20)
        yield* Effect.sleep("300 millis")
        const states: string[] = []
        for (const node of nodes)
          states.push(dec.decode(yield* node.read(g, new Uint8Array(0), { stale: true })))
        expect(new Set(states).size).toBe(1)
        expect(JSON.parse(states[0]!).count).toBe(20)

        // A batch on the leader's batch subject: answers in request order, one of them an error.
        const client = yield* Layer.build(Bus.layerMemory(bus)).pipe(
          Effect.map((c) => Context.get(c, Bus.Bus)),
        )
        const reply = yield* client.request(
          "flotilla.t.cli.group.1.batch",
          encodeBatch([enc.encode("wx"), enc.encode("?"), enc.encode("wy"), enc.encode("r")]),
          { timeout: "5 seconds" },
        )
        const answers = decodeBatchReply(reply)
        expect("answers" in answers).toBe(true)
        const texts = "answers" in answers ? answers.answers.map((a) => dec.decode(a)) : []
        const [w1, badOne, w2, read] = texts.map((t) => JSON.parse(t) as { count?: number; error?: string })
        expect([w1?.count, badOne?.error, w2?.count]).toEqual([21, "BadRequest", 22])
        // The read is concurrent with the batch's writes: any count they may be ordered around.
        expect(read?.count).toBeGreaterThanOrEqual(20)
        expect(read?.count).toBeLessThanOrEqual(22)
        const bad = yield* client.request("flotilla.t.cli.group.1.batch", new Uint8Array([0]), {
          timeout: "5 seconds",
        })
        expect(decodeBatchReply(bad)).toEqual({ error: "a batch starts with a 2-byte count" })
      }),
    ),
  )
})
