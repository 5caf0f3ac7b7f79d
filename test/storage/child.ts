/**
 * Child process of the storage tests, run as `node --import tsx test/storage/child.ts <mode> …`:
 *
 * - `open <dir>`: tries to open the LevelDB store in `dir` and prints ONE JSON line:
 *   `{"ok":true}` or `{"tag":…,"message":…}`.
 * - `write <dir> <seed> <writers> <groupsPerWriter> <instances>`: opens the store, prints
 *   `ready`, then runs `writers` concurrent writers, each writing the batches of its seeded
 *   `Workload` one after another (so group commit coalesces them), and prints `ack <w> <n>` the
 *   moment writer w's batch n is durable. It never stops: the test kills it with SIGKILL.
 *
 * Lines are written with `writeSync` on fd 1 so nothing acknowledged sits in a buffer when the
 * process dies.
 */
import { writeSync } from "node:fs"
import { Effect } from "effect"
import { LogStore, layerLevel } from "../../src/storage/LogStore.js"
import { Workload } from "./workload.js"

const say = (line: string): void => {
  writeSync(1, `${line}\n`)
}

const [mode, dir, ...rest] = process.argv.slice(2)

const openOnly = Effect.gen(function* () {
  yield* LogStore
  say(JSON.stringify({ ok: true }))
}).pipe(
  Effect.provide(layerLevel(dir!)),
  Effect.catchAll((e) => Effect.sync(() => say(JSON.stringify({ tag: e._tag, message: e.message })))),
)

const writeForever = (seed: number, writers: number, groupsPerWriter: number, instances: number) =>
  Effect.gen(function* () {
    const store = yield* LogStore
    say("ready")
    const writer = (w: number) =>
      Effect.gen(function* () {
        const workload = new Workload(seed, w, groupsPerWriter)
        for (;;) {
          const updates = workload.next()
          if (updates.length > 0) yield* store.write(updates)
          say(`ack ${w} ${workload.count}`)
        }
      })
    yield* Effect.forEach(
      Array.from({ length: writers }, (_, w) => w),
      writer,
      { concurrency: "unbounded", discard: true },
    )
  }).pipe(Effect.provide(layerLevel(dir!, { instances })))

const program =
  mode === "open"
    ? openOnly
    : writeForever(Number(rest[0]), Number(rest[1]), Number(rest[2]), Number(rest[3]))

Effect.runPromise(program as Effect.Effect<void, unknown>).then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`child failed: ${String(e)}\n`)
    process.exit(2)
  },
)
