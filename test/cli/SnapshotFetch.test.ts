/**
 * Streaming a group's state out of its leader (SnapshotExport.ts on the node, SnapshotFetch.ts
 * in the client) over an in-process cluster: a KV shard larger than several chunks and an
 * entity shard, each fetched from a follower first (the `NotLeader` hint is followed), equal to
 * the leader's state after every acknowledged write; one open snapshot per node (`Busy`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import { Kv } from "../../shards/kv/Kv.js"
import { sha256 } from "../../src/cli/backup/BackupFormat.js"
import { fetchGroup } from "../../src/cli/backup/SnapshotFetch.js"
import * as Entities from "../../src/client/Entities.js"
import * as KvClient from "../../src/client/KvClient.js"
import * as Router from "../../src/client/Router.js"
import { adminSubject } from "../../src/node/NodeAdmin.js"
import { SNAPSHOT_CHUNK_BYTES } from "../../src/node/SnapshotExport.js"
import { GroupId } from "../../src/raft/Ids.js"
import { Bus } from "../../src/transport/Bus.js"
import * as MemoryCluster from "../client/support/MemoryCluster.js"
import { Tally } from "./support/Tally.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

describe("snapshot export", () => {
  it.live("streams a multi-chunk KV shard and an entity shard from their leaders, as they stand", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const cluster = yield* MemoryCluster.make({ kinds: [Kv, Tally], shards: 1 })
        yield* cluster.awaitLeaders
        const bus = Context.get(yield* Layer.build(cluster.clientBus), Bus)
        const router = Router.makeWith(bus, { cluster: cluster.cluster })
        const kv = KvClient.make(router)
        const value = "v".repeat(1024)
        yield* Effect.forEach(
          Array.from({ length: 900 }, (_, i) => i),
          (i) => kv.put(encoder.encode(`k-${i}`), encoder.encode(value)),
          { concurrency: 32, discard: true },
        )
        yield* Effect.forEach(
          Array.from({ length: 40 }, (_, i) => i),
          (i) => Tally.client(`t-${i % 8}`).Add({ n: i }),
          { concurrency: 8, discard: true },
        ).pipe(Effect.provide(Entities.layer.pipe(Layer.provide(Layer.succeed(Router.Router, router)))))

        for (const keyspace of ["kv", "tally"]) {
          const group = cluster.groupsOf(keyspace)[0]!
          const leader = Option.getOrThrow(yield* cluster.leaderOf(group))
          const follower = [1, 2, 3].find((n) => n !== leader)!
          let bytes: Uint8Array[] = []
          let begins = 0
          const fetched = yield* fetchGroup(
            { bus, cluster: cluster.cluster, group, candidates: [follower], timeoutMs: 20_000 },
            {
              begin: () =>
                Effect.sync(() => {
                  begins++
                  bytes = []
                }),
              write: (c) => Effect.sync(() => void bytes.push(Uint8Array.from(c))),
            },
          )
          const data = Buffer.concat(bytes)
          expect(begins).toBe(1)
          expect(fetched.size).toBe(data.length)
          expect(fetched.sha256).toBe(sha256(data).toString("hex"))
          if (keyspace === "kv") expect(data.length).toBeGreaterThan(2 * SNAPSHOT_CHUNK_BYTES)
          // Nothing was written since: the leader's state now is the state fetched.
          const node = Option.getOrThrow(cluster.node(leader))
          const sm = Option.getOrThrow(node.localStateMachine(GroupId(group)))
          expect(Buffer.from(sm.snapshot()).equals(data)).toBe(true)
          const status = Option.getOrThrow(yield* node.status(GroupId(group)))
          expect(fetched.index).toBe(status.applied)
          expect(fetched.term).toBeGreaterThan(0)
        }
      }),
    ),
  )

  it.live("holds one open snapshot per node: another open is Busy until the first is closed", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const cluster = yield* MemoryCluster.make({ kinds: [Kv], shards: 2 })
        yield* cluster.awaitLeaders
        const bus = Context.get(yield* Layer.build(cluster.clientBus), Bus)
        const [g1, g2] = cluster.groupsOf("kv")
        const leader = Option.getOrThrow(yield* cluster.leaderOf(g1!))
        const admin = (body: object) =>
          Effect.map(
            bus.request(
              adminSubject(cluster.cluster, leader, undefined, "operator"),
              encoder.encode(JSON.stringify(body)),
              {
                timeout: "5 seconds",
              },
            ),
            (b) => JSON.parse(decoder.decode(b)) as Record<string, unknown>,
          )
        const first = yield* admin({ op: "snapshot-open", group: g1 })
        expect(first).toMatchObject({ ok: true, size: expect.any(Number) })
        const second = yield* admin({ op: "snapshot-open", group: g2 })
        expect(second).toMatchObject({ ok: false })
        expect(["Busy", "NotLeader"]).toContain(second.error)
        const again = yield* admin({ op: "snapshot-open", group: g1 })
        expect(again).toMatchObject({ ok: false, error: "Busy" })
        expect(yield* admin({ op: "snapshot-close", id: first.id })).toEqual({ ok: true })
        expect(yield* admin({ op: "snapshot-chunk", id: first.id, offset: 0 })).toMatchObject({
          ok: false,
          error: "UnknownSnapshot",
        })
        const third = yield* admin({ op: "snapshot-open", group: g1 })
        expect(third).toMatchObject({ ok: true })
        const chunk = yield* admin({ op: "snapshot-chunk", id: third.id, offset: 0 })
        expect(chunk).toMatchObject({ ok: true, done: true })
        // Clients may not read state this way: the client admin subject refuses it.
        const refused = yield* Effect.map(
          bus.request(
            adminSubject(cluster.cluster, leader),
            encoder.encode(JSON.stringify({ op: "snapshot-open", group: g1 })),
            {
              timeout: "5 seconds",
            },
          ),
          (b) => JSON.parse(decoder.decode(b)) as Record<string, unknown>,
        )
        expect(refused).toMatchObject({ ok: false, error: "Forbidden" })
      }),
    ),
  )
})
