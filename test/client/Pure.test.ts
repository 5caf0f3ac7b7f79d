import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ClientSession } from "../../src/client/ClientSession.js"
import * as ScanMerge from "../../src/client/ScanMerge.js"
import { checkKeyspaceName } from "../../src/meta/CommandChecks.js"
import * as ShardMapIndex from "../../src/meta/ShardMapIndex.js"
import { splitSlots } from "../../src/meta/Slots.js"
import { GroupId } from "../../src/raft/Ids.js"
import { EntityId } from "../../src/runtime/entity/index.js"
import type { ScanPage } from "../../src/runtime/entity/ShardScan.js"

describe("ClientSession", () => {
  it("numbers commands from 1, acknowledges the lowest unfinished, and keeps the window", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.array(fc.oneof(fc.constant("take" as const), fc.nat(40)), { maxLength: 200 }),
        (window, steps) => {
          const s = new ClientSession(7, window)
          const open = new Set<number>()
          let next = 1
          for (const step of steps) {
            if (step === "take") {
              const t = s.tryTake()
              const floor = Math.min(next, ...open)
              if (next - floor >= window) {
                expect(t).toBeUndefined()
                continue
              }
              expect(t).toEqual({ seq: next, ackedBelow: Math.min(floor, next) })
              open.add(next++)
            } else if (open.has(step)) {
              s.finish(step)
              open.delete(step)
            }
            expect(s.inFlight).toBe(open.size)
            expect(s.floor()).toBe(Math.min(next, ...open))
          }
        },
      ),
    )
  })

  it("wakes waiters when a number finishes or the session dies", () => {
    const s = new ClientSession(1, 1)
    const t = s.tryTake()!
    let woken = 0
    s.onRoom(() => ++woken > 0)
    expect(s.tryTake()).toBeUndefined()
    s.finish(t.seq)
    expect(woken).toBe(1)
    s.tryTake()
    s.onRoom(() => ++woken > 0)
    s.kill()
    expect([woken, s.dead]).toEqual([2, true])
  })

  it("wakes as many waiters as there is room, in arrival order, skipping those that left", () => {
    const s = new ClientSession(1, 2)
    const a = s.tryTake()!
    const b = s.tryTake()!
    const woken: string[] = []
    const waiter =
      (name: string, stillWaiting = true) =>
      () => {
        woken.push(name)
        return stillWaiting
      }
    s.onRoom(waiter("w1"))
    s.onRoom(waiter("gone", false))
    s.onRoom(waiter("w2"))
    s.onRoom(waiter("w3"))
    expect(s.waiting).toBe(4)
    // Finishing a number above the floor opens no room.
    s.finish(b.seq)
    expect(woken).toEqual([])
    // Finishing the floor opens two: w1, then (past the caller that left) w2.
    s.finish(a.seq)
    expect(woken).toEqual(["w1", "gone", "w2"])
    expect(s.waiting).toBe(1)
    // Room now: a new waiter is resumed at once.
    const fresh = new ClientSession(2, 1)
    fresh.onRoom(waiter("at once"))
    expect(woken.at(-1)).toBe("at once")
    expect(fresh.waiting).toBe(0)
  })
})

const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

describe("ScanMerge", () => {
  it("pages through shards to exactly the sorted keys, whatever the layout and stops", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 80 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 8 }),
        (keys, shards, limit, budgets) => {
          // Spread keys over shards by slot; each shard is a sorted list.
          const tables = Array.from({ length: shards }, () => [] as Uint8Array[])
          for (const k of keys) tables[EntityId.slotOf(bytes(k)) % shards]!.push(bytes(k))
          for (const t of tables) t.sort(EntityId.compare)
          let round = 0
          // A shard returns up to `limit` entries after `after`, but may stop early (a byte
          // budget), which it reports with a continuation.
          const page = (t: Uint8Array[], after: Uint8Array | undefined): ScanPage<null> => {
            const rest = t.filter((k) => after === undefined || EntityId.compare(k, after) > 0)
            const budget = budgets[round++ % budgets.length]!
            const n = Math.min(limit, budget, rest.length)
            const entries = rest.slice(0, n).map((id) => ({ id }))
            return { entries, continuation: rest.length > n ? entries[n - 1]!.id : undefined }
          }
          const seen: string[] = []
          let after: Uint8Array | undefined
          for (let i = 0; i < 1000; i++) {
            const merged = ScanMerge.merge(
              tables.map((t) => page(t, after)),
              limit,
            )
            expect(merged.entries.length).toBeLessThanOrEqual(limit)
            for (const e of merged.entries) seen.push(text(e.id))
            if (merged.continuation === undefined) break
            expect(merged.entries.length).toBeGreaterThan(0)
            after = merged.continuation
          }
          const expected = [...keys].map(bytes).sort(EntityId.compare).map(text)
          expect(seen).toEqual(expected)
        },
      ),
    )
  })
})

describe("ShardMapIndex", () => {
  it("finds the group of every slot, the groups of a keyspace and the shard of every group", () => {
    const ranges = splitSlots(5)
    const index = ShardMapIndex.fromShardMap({
      _tag: "ShardMap",
      version: 3,
      keyspaces: [
        {
          name: "kv",
          kind: "kv",
          replicationFactor: 3,
          createdAt: 0,
          shards: ranges.map((r, i) => ({ group: GroupId(i + 1), ...r })).reverse(),
        },
      ],
      groups: [],
    } as never)
    for (let slot = 0; slot < 16384; slot += 97) {
      const g = ShardMapIndex.groupOfSlot(index, "kv", slot)!
      const r = ranges[g - 1]!
      expect(slot >= r.start && slot < r.end).toBe(true)
      expect(ShardMapIndex.ownsSlot(index, g, slot)).toBe(true)
      expect(ShardMapIndex.ownsSlot(index, GroupId((g % 5) + 1), slot)).toBe(false)
    }
    expect(ShardMapIndex.ownsSlot(index, GroupId(9), 1)).toBeUndefined()
    expect(index.shards.get(2)).toEqual({ keyspace: "kv", kind: "kv", ...ranges[1]! })
    expect(ShardMapIndex.groupOfSlot(index, "other", 1)).toBeUndefined()
    expect(ShardMapIndex.groupsOf(index, "kv")).toEqual([1, 2, 3, 4, 5])
    expect(ShardMapIndex.keyspaceFor(index, "kv")).toBe("kv")
    expect(ShardMapIndex.keyspaceOfKind("Counter")).toBe("counter")
    expect(ShardMapIndex.keyspaceOfKind("My.Kind")).toBe("my-kind")
    expect(checkKeyspaceName(ShardMapIndex.keyspaceOfKind("_x"))).toBeUndefined()
  })
})

describe("prefixRange", () => {
  it("holds exactly the keys of the range that start with the prefix", () => {
    const key = fc.uint8Array({ maxLength: 4 }).map((a) => a.map((b) => [0, 1, 0xfe, 0xff][b % 4]!))
    fc.assert(
      fc.property(
        key,
        fc.option(key, { nil: undefined }),
        fc.option(key, { nil: undefined }),
        key,
        (prefix, start, end, k) => {
          const r = ScanMerge.prefixRange(prefix, start, end)
          const inOriginal =
            (start === undefined || EntityId.compare(k, start) >= 0) &&
            (end === undefined || EntityId.compare(k, end) < 0) &&
            EntityId.hasPrefix(k, prefix)
          const inRange =
            (r.start === undefined || EntityId.compare(k, r.start) >= 0) &&
            (r.end === undefined || EntityId.compare(k, r.end) < 0)
          expect(inRange).toBe(inOriginal)
        },
      ),
    )
  })

  it("leaves a Buffer prefix untouched", () => {
    const prefix = Buffer.from("p-")
    ScanMerge.prefixRange(prefix, undefined, undefined)
    expect(prefix.toString()).toBe("p-")
  })
})
