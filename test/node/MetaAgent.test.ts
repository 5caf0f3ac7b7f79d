/**
 * The metadata agent keeps heartbeating while it creates replicas: creating the replicas of a
 * new keyspace of thousands of shards takes a minute, and a node silent that long would be
 * taken for dead by the placement driver (found with 10,000 shards: the driver began replacing
 * the creating node's replicas). Each creation takes 100 ms here, heartbeats are 50 ms apart.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, Layer } from "effect"
import { classify, decodeRequest, encodeReply } from "../../src/meta/MetaProtocol.js"
import { encodeQuery } from "../../src/meta/MetaQuery.js"
import type { MetaStateMachine } from "../../src/meta/MetaStateMachine.js"
import * as MetaAgent from "../../src/node/MetaAgent.js"
import * as NodeShardMap from "../../src/node/NodeShardMap.js"
import { type GroupId, NodeId } from "../../src/raft/Ids.js"
import type { ReplicaId } from "../../src/raft/Types.js"
import { type GroupStatus, Node, type NodeService } from "../../src/runtime/Node.js"
import { Bus } from "../../src/transport/Bus.js"
import * as MemoryBus from "../../src/transport/MemoryBus.js"
import { cluster, must } from "../meta/Helpers.js"

describe("the metadata agent", () => {
  it.live("heartbeats every interval while a long reconciliation creates replicas", () =>
    Effect.gen(function* () {
      // One node; a keyspace of 30 single-replica shards, all on it.
      const sm: MetaStateMachine = cluster(1)
      must(sm, { _tag: "CreateKeyspace", name: "kv", shards: 30, replicationFactor: 1, at: 1 })
      const bus = yield* MemoryBus.make()
      const server = yield* bus.connect
      let heartbeats = 0
      yield* server.subscribe("flotilla.c.int.meta", {
        handler: (msg) => {
          const c = classify(Either.getOrThrow(decodeRequest(msg.data)), 0)
          if (c._tag === "Heartbeat") {
            heartbeats++
            msg.unsafeRespond(
              encodeReply({
                _tag: "HeartbeatAck",
                node: c.request.node,
                shardMapVersion: sm.state().shardMapVersion,
              }),
            )
          } else if (c._tag === "Query") msg.unsafeRespond(sm.query(encodeQuery(c.query)))
          else msg.unsafeRespond(encodeReply({ _tag: "NodeRegistered", node: NodeId(1), rejoined: true }))
        },
      })

      // A node whose replica creation takes a (virtual) second each.
      const hosted: GroupStatus[] = []
      const node = {
        nodeId: 1,
        groups: Effect.sync(() => [...hosted]),
        createGroup: (o: { groupId: GroupId; replicaId: ReplicaId }) =>
          Effect.zipRight(
            Effect.sleep("100 millis"),
            Effect.sync(
              () =>
                void hosted.push({
                  groupId: o.groupId,
                  replicaId: o.replicaId,
                  voters: [o.replicaId],
                  isLeader: false,
                  term: 1,
                  applied: 0,
                  sizeBytes: 0,
                } as never),
            ),
          ),
        removeReplica: () => Effect.void,
      } as unknown as NodeService

      const agent = yield* MetaAgent.make({
        cluster: "c",
        token: "t1",
        name: "n1",
        labels: {},
        kinds: ["kv"],
        reportIntervalMs: 50,
      }).pipe(
        Effect.provide(
          Layer.mergeAll(Layer.succeed(Node, node), Layer.effect(Bus, bus.connect), NodeShardMap.layer),
        ),
      )
      const running = yield* Effect.fork(agent.run)
      // Wait (real time) until two thirds of the replicas exist: two seconds of creations.
      while (hosted.length < 20) yield* Effect.sleep("20 millis")
      // Heartbeats every 50 ms meanwhile (forty if on time; blocked behind the creations: one).
      expect(heartbeats).toBeGreaterThanOrEqual(10)
      yield* Fiber.interrupt(running)
    }).pipe(Effect.scoped),
  )
})
