/**
 * `GroupCatalog`: which state machine kind each hosted group runs, kept beside the log store
 * so that a restarting node can restart its groups before it can reach the metadata group
 * (which tells which keyspace, hence which kind, a group belongs to).
 *
 * The file layer writes `catalog.json` in the data directory atomically (temp file, fsync,
 * rename, fsync of the directory); the memory layer keeps it for the process's lifetime.
 */
import { mkdir, readFile as readTextFile } from "node:fs/promises"
import { join } from "node:path"
import { Context, Data, Effect, Layer, Schema } from "effect"
import type { GroupId } from "../raft/Ids.js"
import { writeFileAtomically } from "../storage/AtomicFile.js"

export class CatalogError extends Data.TaggedError("CatalogError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `group catalog ${this.path}: ${this.reason}`
  }
}

export interface GroupCatalogService {
  /** The kind recorded for a group, if any. */
  readonly kindOf: (groupId: GroupId) => string | undefined
  /** Records (durably) the kind of a group. */
  readonly set: (groupId: GroupId, kind: string) => Effect.Effect<void, CatalogError>
  /** Forgets a group (durably). */
  readonly remove: (groupId: GroupId) => Effect.Effect<void, CatalogError>
}

export class GroupCatalog extends Context.Tag("flotilla/GroupCatalog")<GroupCatalog, GroupCatalogService>() {}

const CatalogFile = Schema.parseJson(
  Schema.Struct({
    version: Schema.Literal(1),
    kinds: Schema.Record({ key: Schema.String, value: Schema.String }),
  }),
)

/** A catalog that lives as long as the process. */
export const layerMemory: Layer.Layer<GroupCatalog> = Layer.sync(GroupCatalog, () => {
  const kinds = new Map<number, string>()
  return {
    kindOf: (g) => kinds.get(g),
    set: (g, kind) => Effect.sync(() => void kinds.set(g, kind)),
    remove: (g) => Effect.sync(() => void kinds.delete(g)),
  }
})

/** The catalog's path in a data directory. */
export const catalogPath = (dataDir: string): string => join(dataDir, "catalog.json")

/** The kinds recorded in `<dataDir>/catalog.json`, by group; empty when there is no catalog. Reads only. */
export const readFile = (dataDir: string): Effect.Effect<ReadonlyMap<number, string>, CatalogError> =>
  Effect.gen(function* () {
    const path = catalogPath(dataDir)
    const fail = (reason: string) => new CatalogError({ path, reason })
    const text = yield* Effect.tryPromise({
      try: () =>
        readTextFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
          if (e.code === "ENOENT") return undefined
          throw e
        }),
      catch: (e) => fail(String(e)),
    })
    const kinds = new Map<number, string>()
    if (text === undefined) return kinds
    const parsed = yield* Schema.decodeUnknown(CatalogFile)(text).pipe(
      Effect.mapError((e) => fail(`unreadable: ${e.message}`)),
    )
    for (const [g, kind] of Object.entries(parsed.kinds)) kinds.set(Number(g), kind)
    return kinds
  })

/** The catalog in `<dataDir>/catalog.json`. */
export const layerFile = (dataDir: string): Layer.Layer<GroupCatalog, CatalogError> =>
  Layer.effect(
    GroupCatalog,
    Effect.gen(function* () {
      const path = catalogPath(dataDir)
      const fail = (reason: string) => new CatalogError({ path, reason })
      yield* Effect.tryPromise({
        try: () => mkdir(dataDir, { recursive: true }),
        catch: (e) => fail(String(e)),
      })
      const kinds = new Map(yield* readFile(dataDir))
      // Each write is of the whole catalog, one at a time, and covers every change made before
      // it started: callers waiting behind a write whose content already holds their change
      // return at once (group commit: a node creating thousands of groups writes a few times,
      // not thousands).
      const lock = yield* Effect.makeSemaphore(1)
      let changes = 0
      let written = 0
      const save = (change: number) =>
        lock.withPermits(1)(
          Effect.suspend(() => {
            if (written >= change) return Effect.void
            const upTo = changes
            const text = JSON.stringify({ version: 1, kinds: Object.fromEntries(kinds) })
            return Effect.tryPromise({
              try: () => writeFileAtomically(path, text),
              catch: (e) => fail(`write failed: ${String(e)}`),
            }).pipe(Effect.tap(() => Effect.sync(() => void (written = upTo))))
          }),
        )
      return {
        kindOf: (g) => kinds.get(g),
        set: (g, kind) =>
          Effect.suspend(() => {
            if (kinds.get(g) === kind) return Effect.void
            kinds.set(g, kind)
            return save(++changes)
          }),
        remove: (g) =>
          Effect.suspend(() => {
            if (!kinds.delete(g)) return Effect.void
            return save(++changes)
          }),
      }
    }),
  )
