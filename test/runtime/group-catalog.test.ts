/** The group catalog file: durable kinds, group-committed writes, clear errors. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { GroupId } from "../../src/raft/Ids.js"
import { GroupCatalog, layerFile } from "../../src/runtime/GroupCatalog.js"

const open = (dir: string) => Effect.map(Layer.build(layerFile(dir)), (ctx) => Context.get(ctx, GroupCatalog))

describe("GroupCatalog (file)", () => {
  it.live("keeps every kind set by many concurrent callers, and removals, across a reopen", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "flotilla-catalog-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      yield* Effect.scoped(
        Effect.gen(function* () {
          const catalog = yield* open(dir)
          yield* Effect.forEach(
            Array.from({ length: 2_000 }, (_, i) => i + 1),
            (g) => catalog.set(GroupId(g), g % 2 === 0 ? "kv" : "Counter"),
            { concurrency: "unbounded", discard: true },
          )
          yield* Effect.forEach([2, 3, 5], (g) => catalog.remove(GroupId(g)), { concurrency: "unbounded" })
          // Every caller returned only once its change was on disk.
          const onDisk = JSON.parse(readFileSync(join(dir, "catalog.json"), "utf8")).kinds
          expect(Object.keys(onDisk).length).toBe(1_997)
        }),
      )
      const reopened = yield* Effect.scoped(open(dir))
      expect(reopened.kindOf(GroupId(4))).toBe("kv")
      expect(reopened.kindOf(GroupId(7))).toBe("Counter")
      expect(reopened.kindOf(GroupId(2))).toBeUndefined()
      expect(reopened.kindOf(GroupId(2_000))).toBe("kv")
    }).pipe(Effect.scoped),
  )

  it.live("refuses an unreadable catalog with its path", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "flotilla-catalog-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      writeFileSync(join(dir, "catalog.json"), "{not json")
      const r = yield* Effect.flip(Effect.scoped(open(dir)))
      expect(r.message).toContain(join(dir, "catalog.json"))
      expect(r.message).toContain("unreadable")
    }).pipe(Effect.scoped),
  )
})
