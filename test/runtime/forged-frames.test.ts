/**
 * Forged Raft frames against a live three-node group over the in-memory transport (issue 11,
 * finding 1): a 45-byte vote claiming node 2 with term 2^53 - 1 and the leadership-transfer
 * context used to be stepped, persisted, and then kill the engine loop at the next election
 * (`term + 1` could not be encoded). It must be dropped and counted, and the group must go on
 * replicating to every member. Also: implausible senders and misrouted snapshot frames.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import { GroupId, NodeId, replicaIdOf } from "../../src/raft/Ids.js"
import { CAMPAIGN_TRANSFER, MessageType, newMessage, type ReplicaId } from "../../src/raft/Types.js"
import { Node, NodeLive } from "../../src/runtime/Node.js"
import * as LogStore from "../../src/storage/LogStore.js"
import * as MemoryLogStore from "../../src/storage/MemoryLogStore.js"
import { checksumKind } from "../../src/testing/ChecksumMachine.js"
import * as Bus from "../../src/transport/Bus.js"
import { clusterIdOf, encodeFrame } from "../../src/transport/Frame.js"
import * as MemoryBus from "../../src/transport/MemoryBus.js"
import * as MemoryNetwork from "../../src/transport/MemoryNetwork.js"
import * as Transport from "../../src/transport/Transport.js"

const enc = new TextEncoder()
const dec = new TextDecoder()
const G = GroupId(3)
const nodeIds = [1, 2, 3].map(NodeId)
const voters = nodeIds.map((n) => replicaIdOf(n))

const cluster = Effect.gen(function* () {
  const net = yield* MemoryNetwork.make({ seed: 11, cluster: "t" })
  const bus = yield* MemoryBus.make()
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
    nodes.push(Context.get(yield* Layer.build(layer), Node))
  }
  for (const [i, node] of nodes.entries())
    yield* node.createGroup({ groupId: G, replicaId: voters[i]!, bootstrap: { voters } })
  return { net, nodes }
})

type Nodes = ReadonlyArray<Node["Type"]>

/** Proposes through whichever node leads, retrying until one does. */
const propose = (nodes: Nodes, data: string) =>
  Effect.gen(function* () {
    for (;;) {
      for (const node of nodes) {
        const st = yield* node.status(G)
        if (Option.isSome(st) && st.value.isLeader) {
          const r = yield* Effect.either(node.propose(G, enc.encode(data)))
          if (r._tag === "Right") return JSON.parse(dec.decode(r.right)).count as number
        }
      }
      yield* Effect.sleep("20 millis")
    }
  })

/** Waits until every node has applied `count` commands (each node's loop must be alive for it). */
const everyNodeApplied = (nodes: Nodes, count: number) =>
  Effect.gen(function* () {
    for (;;) {
      let done = 0
      for (const node of nodes) {
        const state = JSON.parse(dec.decode(yield* node.read(G, new Uint8Array(0), { stale: true })))
        if (state.count === count) done++
      }
      if (done === nodes.length) return
      yield* Effect.sleep("20 millis")
    }
  })

const forgedFrame = (from: NodeId, to: NodeId, message: Parameters<typeof newMessage>[0]) =>
  encodeFrame({ clusterId: clusterIdOf("t"), from, to }, [{ groupId: G, message: newMessage(message) }])

describe("forged Raft frames (issue 11, finding 1)", () => {
  it.live(
    "a vote with term 2^53 - 1 is dropped and counted; every node keeps replicating",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { net, nodes } = yield* cluster
          for (let i = 1; i <= 3; i++) yield* propose(nodes, `before-${i}`)
          const vote = (to: NodeId) =>
            forgedFrame(NodeId(2), to, {
              type: MessageType.Vote,
              from: replicaIdOf(NodeId(2)),
              to: replicaIdOf(to),
              term: 2 ** 53 - 1,
              logTerm: 2 ** 53 - 1,
              index: 2 ** 40,
              context: CAMPAIGN_TRANSFER,
            })
          // As in the finding: the same forged vote to the two other nodes.
          for (const to of [NodeId(1), NodeId(3)]) expect(yield* net.inject(to, "raft", vote(to))).toBe(true)
          // Several election timeouts later, the group still commits and every member applies.
          yield* Effect.sleep("500 millis")
          let count = 0
          for (let i = 1; i <= 5; i++) count = yield* propose(nodes, `after-${i}`)
          expect(count).toBe(8)
          yield* everyNodeApplied(nodes, 8).pipe(
            Effect.timeoutFail({
              duration: "20 seconds",
              onTimeout: () => new Error("a node stopped applying: its engine loop died"),
            }),
          )
          for (const node of nodes) {
            const st = yield* node.status(G)
            expect(Option.getOrThrow(st).term).toBeLessThan(1_000)
          }
          const s1 = yield* nodes[0]!.stats
          const s3 = yield* nodes[2]!.stats
          expect(s1.droppedFrames).toBeGreaterThanOrEqual(1)
          expect(s3.droppedFrames).toBeGreaterThanOrEqual(1)
        }),
      ),
    60_000,
  )

  it.live(
    "implausible senders and misrouted snapshot frames are dropped before the core and counted",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { net, nodes } = yield* cluster
          yield* propose(nodes, "first")
          const n1 = nodes[0]!
          const term = Option.getOrThrow(yield* n1.status(G)).term
          // A heartbeat claiming to come from a replica on node 1 itself (a node never sends
          // itself frames, and a group has one replica per node), with a higher term.
          const self = forgedFrame(NodeId(1), NodeId(1), {
            type: MessageType.Heartbeat,
            from: replicaIdOf(NodeId(1), 1) as ReplicaId,
            to: replicaIdOf(NodeId(1)),
            term: term + 5,
          })
          yield* net.inject(NodeId(1), "raft", self)
          // A MsgApp on the snapshot subject.
          const misrouted = forgedFrame(NodeId(2), NodeId(1), {
            type: MessageType.App,
            from: replicaIdOf(NodeId(2)),
            to: replicaIdOf(NodeId(1)),
            term,
          })
          yield* net.inject(NodeId(1), "snap", misrouted)
          yield* Effect.sleep("200 millis")
          const stats = yield* n1.stats
          expect(stats.droppedImplausible).toBeGreaterThanOrEqual(1)
          expect(stats.droppedFrames).toBeGreaterThanOrEqual(1)
          // The self-claiming heartbeat's higher term never reached the core.
          expect(Option.getOrThrow(yield* n1.status(G)).term).toBeLessThan(term + 5)
          expect(yield* propose(nodes, "second")).toBe(2)
        }),
      ),
    60_000,
  )
})
