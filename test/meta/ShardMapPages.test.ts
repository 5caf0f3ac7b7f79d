/** Shard maps larger than one bus message: answered in pages, merged by the readers. */
import { Effect, Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as ClientShardMap from "../../src/client/ClientShardMap.js"
import { classify, decodeRequest, encodeReply } from "../../src/meta/MetaProtocol.js"
import {
  answerQuery,
  decodeQueryResponse,
  encodeQuery,
  type MetaQueryResponse,
  type ShardMap,
} from "../../src/meta/MetaQuery.js"
import type { MetaStateMachine } from "../../src/meta/MetaStateMachine.js"
import { completeShardMap, mergeShardMapPages, paginateShardMap } from "../../src/meta/PagedShardMap.js"
import * as ShardMapIndex from "../../src/meta/ShardMapIndex.js"
import { slotOf } from "../../src/meta/Slots.js"
import * as MemoryBus from "../../src/transport/MemoryBus.js"
import { clusterSubjects } from "../../src/transport/Subjects.js"
import { cluster as fiveNodes, must } from "./Helpers.js"

const MiB = 1024 * 1024

/** A bootstrapped metadata group with five nodes and keyspaces of the given shard counts. */
const cluster = (shardCounts: ReadonlyArray<number>) => {
  const sm = fiveNodes(5)
  shardCounts.forEach((shards, i) => {
    must(sm, { _tag: "CreateKeyspace", name: `k${i}`, shards, replicationFactor: 3, at: 2 })
  })
  return sm
}

const wholeMap = (sm: MetaStateMachine): ShardMap => {
  const s = sm.state()
  return { _tag: "ShardMap", version: s.shardMapVersion, keyspaces: s.keyspaces, groups: s.groups }
}

const ask = (sm: MetaStateMachine, page: number, knownVersion = 0): MetaQueryResponse =>
  decodeQueryResponse(sm.query(encodeQuery({ _tag: "GetShardMap", keyspace: "", knownVersion, page })))

describe("paginateShardMap", () => {
  it("splits any map into pages within the budget that merge back to it", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 120 }), { minLength: 0, maxLength: 4 }),
        fc.integer({ min: 300, max: 40_000 }),
        (counts, maxBytes) => {
          const whole = wholeMap(cluster(counts))
          const pages = paginateShardMap(whole.version, whole.keyspaces, whole.groups, maxBytes)
          expect(mergeShardMapPages(pages)).toEqual(whole)
          if (pages.length === 1) {
            expect(pages[0]).toEqual(whole)
            return
          }
          pages.forEach((p, i) => {
            expect(p.version).toBe(whole.version)
            expect([p.page, p.pages]).toEqual([i, pages.length])
            // Over the budget only with a single record (and its keyspace's header).
            const size = JSON.stringify(p.keyspaces).length + JSON.stringify(p.groups).length
            const records = p.groups.length + p.keyspaces.reduce((n, k) => n + k.shards.length, 0)
            if (size > maxBytes + 200) expect(records).toBe(1)
          })
        },
      ),
      { numRuns: 60 },
    )
  })
})

describe("a map of 6,000 shards on the metadata group", () => {
  const sm = cluster([4_000, 2_000])
  const whole = wholeMap(sm)

  it("no longer fits one message, and is answered in pages under 1 MiB that merge to it", () => {
    expect(encodeReply(whole).length).toBeGreaterThan(MiB)
    const first = ask(sm, 0)
    expect(first._tag).toBe("ShardMap")
    const count = (first as ShardMap).pages!
    expect(count).toBeGreaterThan(1)
    const pages: ShardMap[] = []
    for (let p = 0; p < count; p++) {
      const bytes = sm.query(encodeQuery({ _tag: "GetShardMap", keyspace: "", knownVersion: 0, page: p }))
      expect(bytes.length).toBeLessThan(MiB)
      pages.push(decodeQueryResponse(bytes) as ShardMap)
    }
    expect(mergeShardMapPages(pages)).toEqual(whole)
    // A reader that is current gets NotModified for page 0; later pages are always answered.
    expect(ask(sm, 0, whole.version)._tag).toBe("NotModified")
    expect(ask(sm, 1, whole.version)._tag).toBe("ShardMap")
    // Past the end: an empty page of the current version.
    expect(ask(sm, count + 3)).toMatchObject({
      version: whole.version,
      groups: [],
      page: count + 3,
      pages: count,
    })
    // answerQuery (no cache) and the state machine's cached bytes agree.
    expect(
      answerQuery(sm.state(), { _tag: "GetShardMap", keyspace: "k1", knownVersion: 0, page: 0 }),
    ).toEqual(
      decodeQueryResponse(
        sm.query(encodeQuery({ _tag: "GetShardMap", keyspace: "k1", knownVersion: 0, page: 0 })),
      ),
    )
  })

  it("completeShardMap starts again when the map changes between pages, and gives up in the end", async () => {
    const changing = cluster([3_000])
    const before = wholeMap(changing)
    const first = ask(changing, 0) as ShardMap
    let asked = 0
    const pageAt = (page: number) =>
      Effect.sync(() => {
        if (++asked === 1) {
          changing.applyCommand({
            _tag: "CreateKeyspace",
            name: "late",
            shards: 5,
            replicationFactor: 3,
            at: 3,
          })
        }
        return ask(changing, page) as ShardMap
      })
    const map = await Effect.runPromise(completeShardMap(first, pageAt))
    expect(map).toEqual(wholeMap(changing))
    expect(map!.version).toBeGreaterThan(before.version)

    let n = 0
    const alwaysChanging = (page: number) =>
      Effect.sync((): ShardMap => ({ ...(ask(changing, page) as ShardMap), version: 1000 + n++ }))
    expect(await Effect.runPromise(completeShardMap(first, alwaysChanging))).toBeUndefined()
  })

  it("the client's copy of the map reads every page over the bus", async () => {
    const program = Effect.scoped(
      Effect.gen(function* () {
        const bus = yield* MemoryBus.make()
        const server = yield* bus.connect
        let requests = 0
        yield* server.subscribe(clusterSubjects("c").meta, {
          handler: (msg) => {
            requests++
            const request = Either.getOrThrow(decodeRequest(msg.data))
            const c = classify(request, 0)
            if (c._tag !== "Query") throw new Error(`unexpected ${c._tag}`)
            msg.unsafeRespond(sm.query(encodeQuery(c.query)))
          },
        })
        const stats = { mapFetches: 0, mapVersion: 0 }
        const cache = ClientShardMap.make(
          { bus: yield* bus.connect, subjects: clusterSubjects("c"), attemptTimeoutMs: 2_000 },
          stats,
        )
        const view = yield* cache.refreshFrom(0, true, Date.now() + 10_000)
        return { view, requests }
      }),
    )
    const { view, requests } = await Effect.runPromise(program)
    expect(requests).toBe((ask(sm, 0) as ShardMap).pages)
    expect(view.version).toBe(whole.version)
    for (const key of ["a", "user-42", "zzz"]) {
      const slot = slotOf(key)
      const want = whole.keyspaces[1]!.shards.find((s) => slot >= s.start && slot < s.end)!.group
      expect(ShardMapIndex.groupOfSlot(view, "k1", slot)).toBe(want)
    }
    expect(ShardMapIndex.groupsOf(view, "k0")?.length).toBe(4_000)
  })
})
