/**
 * The `LogStore` compliance suite: the same cases against every back end. Each back end's test
 * file calls `complianceSuite` with a harness factory.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, Option } from "effect"
import { limitSize } from "../../src/raft/Storage.js"
import type { Entry } from "../../src/raft/Types.js"
import type { LogStoreService } from "../../src/storage/LogStore.js"
import {
  CorruptedEntry,
  CorruptedSnapshot,
  IndexCompacted,
  IndexUnavailable,
  InvalidUpdate,
  StoreClosed,
  StoreLocked,
  SyncFailed,
  WriteFailed,
} from "../../src/storage/StoreErrors.js"
import {
  type BackendUnderTest,
  entries,
  G,
  hs,
  open,
  type StoreHarness,
  snapshot,
  withStore,
} from "./harness.js"

const view = (es: ReadonlyArray<Entry>) => es.map((e) => [e.index, e.term, new TextDecoder().decode(e.data)])

/** Runs `body` with a fresh harness, disposing it afterwards. */
const fresh = <A, E>(b: BackendUnderTest, body: (h: StoreHarness) => Effect.Effect<A, E>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => b.harness()),
    body,
    (h) => Effect.sync(() => h.dispose()),
  )

/** Polls until the store has `n` calls queued behind the batch in flight. */
const untilQueued = (store: LogStoreService, n: number) =>
  Effect.gen(function* () {
    while ((yield* store.stats).queued < n) yield* Effect.sleep("1 millis")
  })

/** Defines the compliance cases for one back end. */
export const complianceSuite = (b: BackendUnderTest): void => {
  describe(`LogStore compliance: ${b.name}`, () => {
    it.live("an empty store holds no groups and answers like an empty log", () =>
      fresh(b, (h) =>
        withStore(h, ({ store }) =>
          Effect.gen(function* () {
            expect(yield* store.groups).toEqual([])
            expect(yield* store.firstIndex(G(5))).toBe(1)
            expect(yield* store.lastIndex(G(5))).toBe(0)
            expect(yield* store.term(G(5), 0)).toBe(0)
            expect(yield* store.entries(G(5), 1, 1)).toEqual([])
            const err = yield* Effect.flip(store.entries(G(5), 1, 2))
            expect(err).toBeInstanceOf(IndexUnavailable)
            const loaded = yield* store.load(G(5))
            expect(loaded).toMatchObject({ firstIndex: 1, lastIndex: 0, floorTerm: 0, entries: [] })
            expect(loaded.snapshot).toBeUndefined()
            expect(Option.isNone(yield* store.loadSnapshot(G(5)))).toBe(true)
          }),
        ),
      ),
    )

    it.live("appends, reads ranges within a size limit, and answers terms", () =>
      fresh(b, (h) =>
        withStore(h, ({ store }) =>
          Effect.gen(function* () {
            const written = [...entries(1, 1, 6, 1), ...entries(1, 7, 10, 2)]
            yield* store.write([{ groupId: G(1), entries: written, hardState: hs(2, 1, 4) }])
            expect(yield* store.lastIndex(G(1))).toBe(10)
            expect(view(yield* store.entries(G(1), 3, 8))).toEqual(view(written.slice(2, 7)))
            for (const max of [0, 40, 100, 250, 10_000]) {
              const got = yield* store.entries(G(1), 2, 11, max)
              expect(view(got)).toEqual(view(limitSize(written.slice(1), max)))
            }
            expect(yield* store.term(G(1), 6)).toBe(1)
            expect(yield* store.term(G(1), 7)).toBe(2)
            expect(yield* Effect.flip(store.term(G(1), 11))).toBeInstanceOf(IndexUnavailable)
            expect(yield* Effect.flip(store.entries(G(1), 0, 3))).toBeInstanceOf(IndexCompacted)
            expect(yield* Effect.flip(store.entries(G(1), 5, 12))).toBeInstanceOf(IndexUnavailable)
            expect(yield* store.hardState(G(1))).toEqual(hs(2, 1, 4))
            expect(yield* store.groups).toEqual([G(1)])
          }),
        ),
      ),
    )

    it.live("replaces a conflicting suffix, also after reopening", () =>
      fresh(b, (h) =>
        Effect.gen(function* () {
          yield* withStore(h, ({ store }) =>
            Effect.gen(function* () {
              yield* store.write([{ groupId: G(1), entries: entries(1, 1, 10, 1) }])
              yield* store.write([{ groupId: G(1), entries: entries(1, 6, 7, 2) }])
              expect(yield* store.lastIndex(G(1))).toBe(7)
              expect(yield* Effect.flip(store.term(G(1), 8))).toBeInstanceOf(IndexUnavailable)
            }),
          )
          yield* withStore(h, ({ store }) =>
            Effect.gen(function* () {
              expect(yield* store.lastIndex(G(1))).toBe(7)
              expect(view(yield* store.entries(G(1), 1, 8))).toEqual(
                view([...entries(1, 1, 5, 1), ...entries(1, 6, 7, 2)]),
              )
              yield* store.write([{ groupId: G(1), entries: entries(1, 8, 9, 3) }])
              expect(yield* store.term(G(1), 9)).toBe(3)
            }),
          )
        }),
      ),
    )

    it.live("an unsynced write (a commit index alone) is read back and kept by a clean reopen", () =>
      fresh(b, (h) =>
        Effect.gen(function* () {
          yield* withStore(h, ({ store }) =>
            Effect.gen(function* () {
              yield* store.write([{ groupId: G(1), entries: entries(1, 1, 4, 1), hardState: hs(1, 1, 2) }])
              const before = (yield* store.stats).batches
              yield* store.write([{ groupId: G(1), hardState: hs(1, 1, 4) }], { sync: false })
              expect((yield* store.stats).batches).toBe(before + 1)
              expect(yield* store.hardState(G(1))).toEqual(hs(1, 1, 4))
            }),
          )
          yield* withStore(h, ({ store }) =>
            Effect.gen(function* () {
              expect(yield* store.hardState(G(1))).toEqual(hs(1, 1, 4))
              expect(yield* store.lastIndex(G(1))).toBe(4)
            }),
          )
        }),
      ),
    )

    it.live("refuses gaps and rewrites under the snapshot, and refuses the whole call", () =>
      fresh(b, (h) =>
        withStore(h, ({ store }) =>
          Effect.gen(function* () {
            yield* store.write([{ groupId: G(1), entries: entries(1, 1, 5, 1) }])
            const gap = yield* Effect.flip(store.write([{ groupId: G(1), entries: entries(1, 7, 8, 1) }]))
            expect(gap).toBeInstanceOf(InvalidUpdate)
            expect(gap.message).toContain("group 1")
            const holes = [...entries(1, 6, 6, 1), ...entries(1, 8, 8, 1)]
            expect(yield* Effect.flip(store.write([{ groupId: G(1), entries: holes }]))).toBeInstanceOf(
              InvalidUpdate,
            )
            // A call with one bad update applies nothing, not even its good updates.
            const mixed = yield* Effect.flip(
              store.write([
                { groupId: G(2), entries: entries(2, 1, 3, 1) },
                { groupId: G(1), entries: entries(1, 9, 9, 1) },
              ]),
            )
            expect(mixed).toBeInstanceOf(InvalidUpdate)
            expect(yield* store.lastIndex(G(2))).toBe(0)
            yield* store.saveSnapshot(G(1), snapshot(1, 4, 1))
            const under = yield* Effect.flip(store.write([{ groupId: G(1), entries: entries(1, 3, 6, 2) }]))
            expect(under).toBeInstanceOf(InvalidUpdate)
            expect(view(yield* store.entries(G(1), 1, 6))).toEqual(view(entries(1, 1, 5, 1)))
          }),
        ),
      ),
    )

    it.live("installs a leader's snapshot in place of the log, also after reopening", () =>
      fresh(b, (h) =>
        Effect.gen(function* () {
          const snap = snapshot(1, 15, 3, 1000)
          yield* withStore(h, ({ store }) =>
            Effect.gen(function* () {
              yield* store.write([{ groupId: G(1), entries: entries(1, 1, 10, 1), hardState: hs(1, 1, 8) }])
              yield* store.write([{ groupId: G(1), snapshot: snap, hardState: hs(3, 2, 15) }])
              expect(yield* store.firstIndex(G(1))).toBe(16)
              expect(yield* store.lastIndex(G(1))).toBe(15)
              expect(yield* store.term(G(1), 15)).toBe(3)
              expect(yield* Effect.flip(store.entries(G(1), 10, 11))).toBeInstanceOf(IndexCompacted)
              const stale = yield* Effect.flip(store.write([{ groupId: G(1), snapshot: snapshot(1, 12, 3) }]))
              expect(stale).toBeInstanceOf(InvalidUpdate)
              yield* store.write([{ groupId: G(1), entries: entries(1, 16, 18, 3) }])
            }),
          )
          yield* withStore(h, ({ store }) =>
            Effect.gen(function* () {
              const loaded = yield* store.load(G(1))
              expect(loaded.snapshot?.metadata).toEqual(snap.metadata)
              expect(Array.from(loaded.snapshot!.data)).toEqual(Array.from(snap.data))
              expect(loaded).toMatchObject({
                firstIndex: 16,
                lastIndex: 18,
                floorTerm: 3,
                hardState: hs(3, 2, 15),
              })
              expect(view(loaded.entries)).toEqual(view(entries(1, 16, 18, 3)))
              // A snapshot inside the log drops the entries after it, too.
              yield* store.write([{ groupId: G(1), snapshot: snapshot(1, 17, 3) }])
              expect(yield* store.lastIndex(G(1))).toBe(17)
              expect(yield* store.firstIndex(G(1))).toBe(18)
            }),
          )
        }),
      ),
    )

    it.live("records its own snapshots and compacts up to them, also after reopening", () =>
      fresh(b, (h) =>
        Effect.gen(function* () {
          yield* withStore(h, ({ store }) =>
            Effect.gen(function* () {
              yield* store.write([
                { groupId: G(1), entries: [...entries(1, 1, 8, 1), ...entries(1, 9, 20, 2)] },
              ])
              const wrongTerm = yield* Effect.flip(store.saveSnapshot(G(1), snapshot(1, 10, 1)))
              expect(wrongTerm).toBeInstanceOf(InvalidUpdate)
              expect(yield* Effect.flip(store.saveSnapshot(G(1), snapshot(1, 21, 2)))).toBeInstanceOf(
                InvalidUpdate,
              )
              yield* store.saveSnapshot(G(1), snapshot(1, 10, 2))
              const tooFar = yield* Effect.flip(store.compact(G(1), 12))
              expect(tooFar).toBeInstanceOf(InvalidUpdate)
              expect(tooFar.message).toContain("no snapshot covers")
              yield* store.compact(G(1), 7)
              expect(yield* store.firstIndex(G(1))).toBe(8)
              expect(yield* store.term(G(1), 7)).toBe(1)
              expect(yield* Effect.flip(store.term(G(1), 6))).toBeInstanceOf(IndexCompacted)
              yield* store.compact(G(1), 5) // below the floor: nothing to do
              // Snapshot and compaction in the same update as new entries.
              yield* store.write([
                {
                  groupId: G(1),
                  entries: entries(1, 21, 22, 2),
                  savedSnapshot: snapshot(1, 21, 2),
                  compactTo: 21,
                },
              ])
            }),
          )
          yield* withStore(h, ({ store }) =>
            Effect.gen(function* () {
              const loaded = yield* store.load(G(1))
              expect(loaded).toMatchObject({ firstIndex: 22, lastIndex: 22, floorTerm: 2 })
              expect(loaded.snapshot?.metadata.index).toBe(21)
              expect(view(loaded.entries)).toEqual(view(entries(1, 22, 22, 2)))
            }),
          )
        }),
      ),
    )

    it.live("removes a group entirely; it can be created again", () =>
      fresh(b, (h) =>
        Effect.gen(function* () {
          yield* withStore(h, ({ store }) =>
            Effect.gen(function* () {
              yield* store.write([
                { groupId: G(1), entries: entries(1, 1, 5, 1), hardState: hs(1, 1, 5) },
                { groupId: G(2), entries: entries(2, 1, 5, 1) },
              ])
              yield* store.write([{ groupId: G(1), savedSnapshot: snapshot(1, 5, 1), compactTo: 3 }])
              expect(h.snapshotFiles()).toBe(1)
              yield* store.removeGroup(G(1))
              yield* store.removeGroup(G(9)) // never written: nothing to do
              expect(yield* store.groups).toEqual([G(2)])
              expect(yield* store.load(G(1))).toMatchObject({ firstIndex: 1, lastIndex: 0, entries: [] })
            }),
          )
          // The removed group's snapshot data went with it (not only at the next open).
          expect(h.snapshotFiles()).toBe(0)
          yield* withStore(h, ({ store }) =>
            Effect.gen(function* () {
              expect(yield* store.groups).toEqual([G(2)])
              expect(Option.isNone(yield* store.loadSnapshot(G(1)))).toBe(true)
              yield* store.write([{ groupId: G(1), entries: entries(1, 1, 2, 7) }])
              expect(view(yield* store.entries(G(1), 1, 3))).toEqual(view(entries(1, 1, 2, 7)))
              expect(yield* store.hardState(G(1))).toEqual(hs(0, 0, 0))
            }),
          )
        }),
      ),
    )

    it.live("coalesces concurrent writes into one batch, keeping each group's order", () =>
      fresh(b, (h) =>
        withStore(h, ({ store, faults }) =>
          Effect.gen(function* () {
            yield* faults.pauseSync
            const first = yield* Effect.fork(store.write([{ groupId: G(1), entries: entries(1, 1, 2, 1) }]))
            yield* faults.awaitPausedSync(1)
            const before = yield* store.stats
            const later: Array<Fiber.RuntimeFiber<void, unknown>> = []
            for (let g = 2; g <= 21; g++)
              later.push(yield* Effect.fork(store.write([{ groupId: G(g), entries: entries(g, 1, 3, 1) }])))
            later.push(yield* Effect.fork(store.write([{ groupId: G(1), entries: entries(1, 3, 4, 1) }])))
            later.push(yield* Effect.fork(store.write([{ groupId: G(1), entries: entries(1, 4, 4, 2) }])))
            yield* untilQueued(store, 22)
            yield* faults.resumeSync
            yield* Fiber.join(first)
            for (const f of later) yield* Fiber.join(f)
            const after = yield* store.stats
            // The held batch, then ONE batch for the 22 calls that queued behind it.
            expect(after.batches - before.batches).toBe(2)
            expect(after.requests - before.requests).toBe(23)
            expect(view(yield* store.entries(G(1), 1, 5))).toEqual(
              view([...entries(1, 1, 3, 1), ...entries(1, 4, 4, 2)]),
            )
            expect(yield* store.lastIndex(G(21))).toBe(3)
          }),
        ),
      ),
    )

    it.live("a call carrying a snapshot keeps its place before later calls on the same group", () =>
      fresh(b, (h) =>
        withStore(h, ({ store }) =>
          Effect.gen(function* () {
            // The install writes its snapshot file first; the append made after it must wait for it.
            const install = yield* Effect.fork(
              store.write([{ groupId: G(1), snapshot: snapshot(1, 20, 2, 200_000) }]),
            )
            const append = yield* Effect.fork(
              store.write([{ groupId: G(1), entries: entries(1, 21, 22, 2) }]),
            )
            const other = yield* Effect.fork(store.write([{ groupId: G(2), entries: entries(2, 1, 1, 1) }]))
            yield* Fiber.join(install)
            yield* Fiber.join(append)
            yield* Fiber.join(other)
            const loaded = yield* store.load(G(1))
            expect(loaded).toMatchObject({ firstIndex: 21, lastIndex: 22 })
            expect(loaded.snapshot?.data.length).toBe(200_000)
          }),
        ),
      ),
    )

    it.live("a failed batch fails every caller in it and acknowledges nothing; the store goes on", () =>
      fresh(b, (h) =>
        withStore(h, ({ store, faults }) =>
          Effect.gen(function* () {
            yield* store.write([{ groupId: G(1), entries: entries(1, 1, 3, 1) }])
            yield* faults.pauseSync
            const first = yield* Effect.fork(store.write([{ groupId: G(1), entries: entries(1, 4, 4, 1) }]))
            yield* faults.awaitPausedSync(1)
            yield* faults.failNextWrite()
            const a = yield* Effect.fork(
              Effect.either(store.write([{ groupId: G(2), entries: entries(2, 1, 2, 1) }])),
            )
            const c = yield* Effect.fork(
              Effect.either(store.write([{ groupId: G(1), entries: entries(1, 5, 6, 1) }])),
            )
            yield* untilQueued(store, 2)
            yield* faults.resumeSync
            yield* Fiber.join(first)
            const [ra, rc] = [yield* Fiber.join(a), yield* Fiber.join(c)]
            expect(Either.isLeft(ra) && ra.left instanceof WriteFailed).toBe(true)
            expect(Either.isLeft(rc) && rc.left instanceof WriteFailed).toBe(true)
            expect(yield* store.lastIndex(G(1))).toBe(4)
            expect(yield* store.lastIndex(G(2))).toBe(0)
            yield* store.write([{ groupId: G(2), entries: entries(2, 1, 2, 1) }])
            expect(yield* store.lastIndex(G(2))).toBe(2)
          }),
        ),
      ),
    )

    it.live("calls planned on top of a batch that failed are planned again on what is durable", () =>
      fresh(b, (h) =>
        withStore(h, ({ store, faults }) =>
          Effect.gen(function* () {
            yield* store.write([{ groupId: G(1), entries: entries(1, 1, 3, 1) }])
            yield* faults.failNextWrite()
            yield* faults.pauseSync
            const first = yield* Effect.fork(
              Effect.either(store.write([{ groupId: G(1), entries: entries(1, 4, 4, 1) }])),
            )
            yield* faults.awaitPausedSync(1)
            // Both are planned on top of the held batch: 5 follows 4, group 2 is independent.
            const onTop = yield* Effect.fork(
              Effect.either(store.write([{ groupId: G(1), entries: entries(1, 5, 5, 1) }])),
            )
            const other = yield* Effect.fork(
              Effect.either(store.write([{ groupId: G(2), entries: entries(2, 1, 1, 1) }])),
            )
            yield* untilQueued(store, 2)
            yield* faults.resumeSync
            const r1 = yield* Fiber.join(first)
            expect(Either.isLeft(r1) && r1.left instanceof WriteFailed).toBe(true)
            // Entry 4 never became durable, so appending 5 would leave a gap.
            const r2 = yield* Fiber.join(onTop)
            expect(Either.isLeft(r2) && r2.left instanceof InvalidUpdate).toBe(true)
            expect(Either.isRight(yield* Fiber.join(other))).toBe(true)
            expect(yield* store.lastIndex(G(1))).toBe(3)
            expect(yield* store.lastIndex(G(2))).toBe(1)
          }),
        ),
      ),
    )

    it.live("a removal takes effect between the calls made before and after it", () =>
      fresh(b, (h) =>
        withStore(h, ({ store, faults }) =>
          Effect.gen(function* () {
            yield* faults.pauseSync
            const before = yield* Effect.fork(
              store.write([
                { groupId: G(1), entries: entries(1, 1, 5, 1), savedSnapshot: snapshot(1, 3, 1) },
              ]),
            )
            yield* faults.awaitPausedSync(1)
            const removal = yield* Effect.fork(store.removeGroup(G(1)))
            const after = yield* Effect.fork(store.write([{ groupId: G(1), entries: entries(1, 1, 2, 3) }]))
            yield* untilQueued(store, 2)
            yield* faults.resumeSync
            yield* Fiber.join(before)
            yield* Fiber.join(removal)
            yield* Fiber.join(after)
            const loaded = yield* store.load(G(1))
            expect(loaded.snapshot).toBeUndefined()
            expect(view(loaded.entries)).toEqual(view(entries(1, 1, 2, 3)))
          }),
        ),
      ),
    )

    it.live("a failed sync stops the store; after reopening each batch is whole or absent", () =>
      fresh(b, (h) =>
        Effect.gen(function* () {
          yield* withStore(h, ({ store, faults }) =>
            Effect.gen(function* () {
              yield* store.write([
                { groupId: G(1), entries: entries(1, 1, 2, 1) },
                { groupId: G(2), entries: entries(2, 1, 2, 1) },
              ])
              yield* faults.failNextSync
              const err = yield* Effect.flip(
                store.write([
                  { groupId: G(1), entries: entries(1, 3, 5, 1), hardState: hs(1, 1, 5) },
                  { groupId: G(2), entries: entries(2, 2, 4, 2) },
                ]),
              )
              expect(err).toBeInstanceOf(SyncFailed)
              expect(err.message).toContain(h.location)
              const next = yield* Effect.flip(store.write([{ groupId: G(3), entries: entries(3, 1, 1, 1) }]))
              expect(next).toBe(err)
              expect(yield* Effect.flip(store.lastIndex(G(1)))).toBe(err)
            }),
          )
          yield* withStore(h, ({ store }) =>
            Effect.gen(function* () {
              const [l1, l2] = [yield* store.load(G(1)), yield* store.load(G(2))]
              const applied = l1.lastIndex === 5
              expect(view(l1.entries)).toEqual(view(entries(1, 1, applied ? 5 : 2, 1)))
              expect(view(l2.entries)).toEqual(
                view(applied ? [...entries(2, 1, 1, 1), ...entries(2, 2, 4, 2)] : entries(2, 1, 2, 1)),
              )
              expect(l1.hardState).toEqual(applied ? hs(1, 1, 5) : hs(0, 0, 0))
              expect(yield* store.groups).not.toContain(G(3))
              yield* store.write([{ groupId: G(3), entries: entries(3, 1, 1, 1) }])
            }),
          )
        }),
      ),
    )

    it.live("a corrupted entry stops only its group, until the group is removed", () =>
      fresh(b, (h) =>
        withStore(h, ({ store, faults }) =>
          Effect.gen(function* () {
            yield* store.write([
              { groupId: G(1), entries: entries(1, 1, 5, 1) },
              { groupId: G(2), entries: entries(2, 1, 5, 1) },
            ])
            yield* faults.corruptEntry(G(1), 3)
            const err = yield* Effect.flip(store.entries(G(1), 1, 6))
            expect(err).toBeInstanceOf(CorruptedEntry)
            expect(err).toMatchObject({ groupId: G(1), index: 3 })
            expect(err.message).toContain("group 1")
            expect(err.message).toContain("entry 3")
            expect(yield* Effect.flip(store.lastIndex(G(1)))).toBe(err)
            expect(yield* Effect.flip(store.load(G(1)))).toBe(err)
            expect(yield* Effect.flip(store.write([{ groupId: G(1), hardState: hs(2, 1, 1) }]))).toBe(err)
            const both = store.write([
              { groupId: G(2), entries: entries(2, 6, 6, 1) },
              { groupId: G(1), entries: entries(1, 6, 6, 1) },
            ])
            expect(yield* Effect.flip(both)).toBe(err)
            yield* store.write([{ groupId: G(2), entries: entries(2, 6, 7, 1) }])
            expect(view(yield* store.entries(G(2), 1, 8))).toEqual(view(entries(2, 1, 7, 1)))
            expect(yield* store.groups).toEqual([G(1), G(2)])
            yield* faults.clear
            yield* store.removeGroup(G(1))
            yield* store.write([{ groupId: G(1), entries: entries(1, 1, 1, 4) }])
            expect(yield* store.term(G(1), 1)).toBe(4)
          }),
        ),
      ),
    )

    it.live("a corrupted snapshot stops only its group", () =>
      fresh(b, (h) =>
        withStore(h, ({ store, faults }) =>
          Effect.gen(function* () {
            yield* store.write([
              { groupId: G(1), snapshot: snapshot(1, 10, 2) },
              { groupId: G(2), snapshot: snapshot(2, 10, 2) },
            ])
            yield* faults.corruptSnapshot(G(1))
            const err = yield* Effect.flip(store.loadSnapshot(G(1)))
            expect(err).toBeInstanceOf(CorruptedSnapshot)
            expect(err.message).toContain("group 1")
            expect(yield* Effect.flip(store.firstIndex(G(1)))).toBe(err)
            const other = yield* store.loadSnapshot(G(2))
            expect(Option.getOrThrow(other).metadata.index).toBe(10)
          }),
        ),
      ),
    )

    it.live("the store is locked while open, and refuses calls once closed", () =>
      fresh(b, (h) =>
        Effect.gen(function* () {
          const closed = yield* Effect.scoped(
            Effect.gen(function* () {
              const { store } = yield* open(h)
              const second = yield* Effect.flip(Effect.scoped(open(h)))
              expect(second).toBeInstanceOf(StoreLocked)
              expect(second.message).toContain(h.location)
              yield* store.write([{ groupId: G(1), entries: entries(1, 1, 1, 1) }])
              return store
            }),
          )
          expect(
            yield* Effect.flip(closed.write([{ groupId: G(1), entries: entries(1, 2, 2, 1) }])),
          ).toBeInstanceOf(StoreClosed)
          expect(yield* Effect.flip(closed.groups)).toBeInstanceOf(StoreClosed)
          yield* withStore(h, ({ store }) =>
            Effect.gen(function* () {
              expect(yield* store.lastIndex(G(1))).toBe(1)
            }),
          )
        }),
      ),
    )
  })
}
