/**
 * A node closed while a store write is in flight: the write finishes (the store closes after
 * the node), the engine loop ends at once instead of spinning on a write it will never see
 * complete, and the caller waiting on that write gets its answer. Found with a 10,000-shard
 * keyspace: SIGTERM during the creation left the process at 100% CPU.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Logger, Option, Scope } from "effect"
import { GroupId, NodeId, replicaIdOf } from "../../src/raft/Ids.js"
import { Node, NodeLive } from "../../src/runtime/Node.js"
import * as FaultyLogStore from "../../src/storage/FaultyLogStore.js"
import { FaultControl } from "../../src/storage/FaultyLogStore.js"
import { checksumKind } from "../../src/testing/ChecksumMachine.js"
import * as Bus from "../../src/transport/Bus.js"
import * as MemoryBus from "../../src/transport/MemoryBus.js"
import * as MemoryNetwork from "../../src/transport/MemoryNetwork.js"
import * as Transport from "../../src/transport/Transport.js"

describe("node shutdown", () => {
  const warnings: string[] = []
  const logger = Logger.make(({ logLevel, message }) => {
    if (logLevel._tag === "Warning" || logLevel._tag === "Error") warnings.push(String(message))
  })
  it.live(
    "with a store write in flight: the write completes, the loop stops, the caller is answered",
    () =>
      Effect.gen(function* () {
        const net = yield* MemoryNetwork.make({ seed: 3, cluster: "t" })
        const bus = yield* MemoryBus.make()
        const n = NodeId(1)
        const layer = NodeLive({
          nodeId: n,
          cluster: "t",
          kindOf: () => checksumKind,
          settings: { tickMs: 10 },
        }).pipe(
          Layer.provideMerge(
            Layer.mergeAll(FaultyLogStore.layerMemory(), Transport.layerMemory(net, n), Bus.layerMemory(bus)),
          ),
        )
        const scope = yield* Scope.make()
        const ctx = yield* Layer.buildWithScope(layer, scope).pipe(Effect.orDie)
        const node = Context.get(ctx, Node)
        const faults = Context.get(ctx, FaultControl)
        const g = GroupId(1)
        yield* node.createGroup({
          groupId: g,
          replicaId: replicaIdOf(n),
          bootstrap: { voters: [replicaIdOf(n)] },
        })
        for (let i = 0; ; i++) {
          const st = yield* node.status(g)
          if (Option.isSome(st) && st.value.isLeader) break
          if (i > 500) throw new Error("no leader")
          yield* Effect.sleep("10 millis")
        }
        yield* node.propose(g, new TextEncoder().encode("before"))

        // A write held at its sync, then the node closes.
        yield* faults.pauseSync
        const caller = yield* Effect.fork(Effect.either(node.propose(g, new TextEncoder().encode("held"))))
        yield* faults.awaitPausedSync()
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* Effect.sleep("200 millis")
        yield* faults.resumeSync
        const closed = yield* Fiber.await(closing).pipe(Effect.timeout("8 seconds"), Effect.option)
        expect(Option.isSome(closed)).toBe(true)
        const answer = yield* Fiber.join(caller)
        // Written before the close completed: applied, or refused as the node stops.
        if (answer._tag === "Left") expect(answer.left._tag).toBe("NodeStopping")
        expect(warnings.filter((w) => w.includes("did not stop"))).toEqual([])
      }).pipe(Effect.scoped, Effect.provide(Logger.replace(Logger.defaultLogger, logger))),
    30_000,
  )
})
