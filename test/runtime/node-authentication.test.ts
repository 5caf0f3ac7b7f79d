/**
 * Nodes that share a cluster secret (docs/security.md) refuse what an attacker on the bus
 * forges: a MsgApp with the leader's id and term (issue 11, finding 2) and liveness pings of a
 * dead leader (finding 6), new or replayed. Three in-process nodes over the memory network
 * and bus, which carry bytes exactly as NATS does.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Option, Schedule, Scope } from "effect"
import { GroupId, NodeId, nodeOfReplica, replicaIdOf } from "../../src/raft/Ids.js"
import { type Message, MessageType, newMessage } from "../../src/raft/Types.js"
import { Node, NodeLive, type NodeService } from "../../src/runtime/Node.js"
import * as LogStore from "../../src/storage/LogStore.js"
import * as MemoryLogStore from "../../src/storage/MemoryLogStore.js"
import { checksumKind } from "../../src/testing/ChecksumMachine.js"
import * as Bus from "../../src/transport/Bus.js"
import { type ClusterSecret, parseClusterSecret } from "../../src/transport/ClusterSecret.js"
import { clusterIdOf, encodeFrame } from "../../src/transport/Frame.js"
import * as MemoryBus from "../../src/transport/MemoryBus.js"
import * as MemoryNetwork from "../../src/transport/MemoryNetwork.js"
import * as Transport from "../../src/transport/Transport.js"

const CLUSTER = "sec"
const G = GroupId(1)
const secret = parseClusterSecret("5a".repeat(32)) as ClusterSecret
const enc = new TextEncoder()

interface Running {
  readonly service: NodeService
  readonly scope: Scope.CloseableScope
}

/** Three nodes with the secret, each in its own scope, hosting group 1 on all three. */
const startNodes = (settings: Record<string, number>) =>
  Effect.gen(function* () {
    const net = yield* MemoryNetwork.make({ seed: 11, cluster: CLUSTER })
    const bus = yield* MemoryBus.make()
    const ids = [1, 2, 3].map(NodeId)
    const voters = ids.map((n) => replicaIdOf(n))
    const nodes = new Map<number, Running>()
    for (const n of ids) {
      const scope = yield* Scope.make()
      yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
      const layer = NodeLive({
        nodeId: n,
        cluster: CLUSTER,
        kindOf: () => checksumKind,
        settings: { tickMs: 10, ...settings },
        clusterSecret: secret,
      }).pipe(
        Layer.provide(
          Layer.mergeAll(
            Layer.scoped(LogStore.LogStore, Effect.orDie(MemoryLogStore.make())),
            Transport.layerMemory(net, n, { clusterSecret: secret }),
            Bus.layerMemory(bus),
          ),
        ),
      )
      const service = Context.get(yield* Layer.buildWithScope(layer, scope), Node)
      nodes.set(n, { service, scope })
    }
    for (const [i, n] of ids.entries())
      yield* nodes.get(n)!.service.createGroup({ groupId: G, replicaId: voters[i]!, bootstrap: { voters } })
    return { net, bus, nodes }
  })

/** Polls `get` every 20 ms until `done` holds (or the test's timeout). */
const until = <A>(get: Effect.Effect<A>, done: (a: A) => boolean): Effect.Effect<A, Error> =>
  Effect.gen(function* () {
    for (;;) {
      const a = yield* get
      if (done(a)) return a
      yield* Effect.sleep("20 millis")
    }
  }).pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("condition not reached") }))

/** The node that leads group 1 as every running node in `among` agrees, once they do. */
const agreedLeader = (nodes: Map<number, Running>, among: ReadonlyArray<number>) =>
  until(
    Effect.forEach(among, (n) => nodes.get(n)!.service.status(G)),
    (views) =>
      views.every(
        (v) =>
          Option.isSome(v) &&
          v.value.leaderNode !== undefined &&
          among.includes(v.value.leaderNode) &&
          v.value.leaderNode === (views[0] as typeof v).value.leaderNode,
      ),
  ).pipe(Effect.map((views) => Option.getOrThrow(views[0]!).leaderNode!))

describe("nodes with a cluster secret", () => {
  it.live(
    "do not append or apply a forged MsgApp carrying the leader's id and term (finding 2)",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { net, nodes } = yield* startNodes({ quiesceAfterTicks: 0 })
          const leader = yield* agreedLeader(nodes, [1, 2, 3])
          const lead = nodes.get(leader)!.service
          yield* lead.propose(G, enc.encode("genuine"))
          const follower = [1, 2, 3].find((n) => n !== leader)!
          const followerNode = nodes.get(follower)!.service
          const st = Option.getOrThrow(
            yield* until(followerNode.status(G), (s) => Option.isSome(s) && s.value.applied >= 2),
          )
          // The attacker read term and last index from `status`, as in the issue.
          const forged: Message = newMessage({
            type: MessageType.App,
            from: replicaIdOf(NodeId(leader)),
            to: st.replicaId,
            term: st.term,
            logTerm: st.term,
            index: st.lastIndex,
            commit: st.lastIndex + 1,
            entries: [{ term: st.term, index: st.lastIndex + 1, type: 0, data: enc.encode("FORGED") }],
          })
          const frame = encodeFrame(
            { clusterId: clusterIdOf(CLUSTER), from: NodeId(leader), to: NodeId(follower) },
            [{ groupId: G, message: forged }],
          )
          yield* net.inject(NodeId(follower), "raft", frame)
          // Wait for whichever comes first: the frame counted as unauthenticated, or applied.
          const after = yield* until(
            Effect.all([followerNode.stats, followerNode.status(G)]),
            ([stats, s]) =>
              (stats.framesDropped?.unauthenticated ?? 0) >= 1 ||
              (Option.isSome(s) && s.value.lastIndex > st.lastIndex),
          )
          expect(Option.getOrThrow(after[1]).lastIndex).toBe(st.lastIndex)
          expect(Option.getOrThrow(after[1]).applied).toBe(st.applied)
          expect(after[0].framesDropped.unauthenticated).toBe(1)
          expect(nodeOfReplica(forged.from)).toBe(leader)
        }),
      ),
    60_000,
  )

  it.live(
    "elect a new leader of an idle group whose leader died, despite forged and replayed pings (finding 6)",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { bus, nodes } = yield* startNodes({
            quiesceAfterTicks: 5,
            livenessIntervalMs: 50,
            livenessTimeoutMs: 400,
          })
          const attacker = yield* bus.connect
          const leader = yield* agreedLeader(nodes, [1, 2, 3])
          // Record one of the leader's genuine pings, to replay it.
          const sub = yield* attacker.subscribe(`flotilla.${CLUSTER}.int.live.${leader}`)
          const recorded = yield* sub.take
          yield* until(
            Effect.forEach([1, 2, 3], (n) => nodes.get(n)!.service.status(G)),
            (views) => views.every((v) => Option.isSome(v) && v.value.quiesced),
          )
          yield* Scope.close(nodes.get(leader)!.scope, Exit.void)
          const survivors = [1, 2, 3].filter((n) => n !== leader)
          // Empty pings (as in the issue), random ones and the replayed genuine one, every 50 ms.
          const forge = Effect.forEach(
            [new Uint8Array(0), crypto.getRandomValues(new Uint8Array(40)), recorded.data],
            (ping) => attacker.publish(`flotilla.${CLUSTER}.int.live.${leader}`, ping),
          ).pipe(Effect.ignore, Effect.repeat(Schedule.spaced("50 millis")))
          yield* Effect.forkScoped(forge)
          const next = yield* agreedLeader(nodes, survivors)
          expect(survivors).toContain(next)
          const refused = yield* Effect.forEach(survivors, (n) => nodes.get(n)!.service.stats)
          for (const s of refused) expect(s.refusedPings).toBeGreaterThan(0)
        }),
      ),
    60_000,
  )
})
