/**
 * Crash tests with real processes. A child process (child.ts) runs several writers that write
 * many groups' batches through one LevelDB store (group commit coalesces them) and reports each
 * batch the moment it is durable; it is killed with SIGKILL at a random moment. Reopening the
 * store must then show, for every writer, exactly the state after all its acknowledged batches,
 * or after one more (the batch in flight) — never a torn or partial batch — and the store must
 * keep working. Seeds: FLOTILLA_CRASH_SEEDS="1,2,3" to choose others.
 *
 * With one LevelDB instance a writer's batch must be all there or not at all; with K instances
 * atomicity is per group (each instance's part of a batch is atomic), which is checked per group.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { LogStore, type LogStoreService, layerLevel } from "../../src/storage/LogStore.js"
import { toMemoryStorage } from "../../src/storage/Restore.js"
import { describeStorage, G } from "./harness.js"
import { rng, snapshotIndex, Workload } from "./workload.js"

const CHILD = join(import.meta.dirname, "child.ts")
const WRITERS = 4
const GROUPS_PER_WRITER = 6

const seeds = (process.env.FLOTILLA_CRASH_SEEDS ?? "11,23,37,41").split(",").map(Number)

interface Run {
  readonly acked: number[]
  readonly output: string
}

/** Starts the writer child, kills it with SIGKILL `delayMs` after `minAcks` batches were acknowledged. */
const crashRun = (dir: string, seed: number, instances: number, delayMs: number, minAcks: number) =>
  new Promise<Run>((resolve, reject) => {
    const child: ChildProcess = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        CHILD,
        "write",
        dir,
        String(seed),
        String(WRITERS),
        String(GROUPS_PER_WRITER),
        String(instances),
      ],
      { cwd: join(import.meta.dirname, "../.."), stdio: ["ignore", "pipe", "pipe"] },
    )
    const acked = Array.from({ length: WRITERS }, () => 0)
    let pending = ""
    let output = ""
    let total = 0
    let armed = false
    child.stdout!.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8")
      const lines = pending.split("\n")
      pending = lines.pop()!
      for (const line of lines) {
        const [word, w, n] = line.split(" ")
        if (word === "ack") {
          acked[Number(w)] = Number(n)
          total++
        }
      }
      if (!armed && total >= minAcks) {
        armed = true
        setTimeout(() => child.kill("SIGKILL"), delayMs)
      }
    })
    child.stderr!.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8")
    })
    child.on("error", reject)
    child.on("exit", (code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`child exited with ${code} ${signal}: ${output}`))
      else resolve({ acked, output })
    })
  })

const stateOf = (store: LogStoreService, group: number) =>
  Effect.map(store.load(G(group)), (loaded) => describeStorage(toMemoryStorage(loaded)))

/**
 * For every writer, the number of its batches the store holds: `acked` or `acked + 1`,
 * checked whole per writer (`perGroup = false`) or group by group.
 */
const verify = (store: LogStoreService, seed: number, acked: readonly number[], perGroup: boolean) =>
  Effect.gen(function* () {
    const workloads: Workload[] = []
    for (let w = 0; w < WRITERS; w++) {
      const wl = new Workload(seed, w, GROUPS_PER_WRITER)
      for (let n = 0; n < acked[w]!; n++) wl.next()
      const atAcked = wl.models.map((m) => describeStorage(m.storage))
      wl.next()
      const atNext = wl.models.map((m) => describeStorage(m.storage))
      const found: Array<ReturnType<typeof describeStorage>> = []
      for (let k = 0; k < wl.groups.length; k++) found.push(yield* stateOf(store, wl.groups[k]!))
      const matches = (expected: typeof atAcked) =>
        found.map((f, k) => JSON.stringify(f) === JSON.stringify(expected[k]))
      const old = matches(atAcked)
      const next = matches(atNext)
      if (perGroup) {
        for (let k = 0; k < found.length; k++)
          expect(old[k] || next[k], `seed ${seed} writer ${w} group ${wl.groups[k]} torn`).toBe(true)
      } else {
        const whole = old.every(Boolean) || next.every(Boolean)
        if (!whole)
          expect(found, `seed ${seed} writer ${w}: neither ${acked[w]} nor ${acked[w]! + 1} batches`).toEqual(
            atAcked,
          )
      }
      // Continue from what is there (acked + 1 where the in-flight batch made it).
      const landed = next.every(Boolean) && !old.every(Boolean) ? acked[w]! + 1 : acked[w]!
      const resumed = new Workload(seed, w, GROUPS_PER_WRITER)
      for (let n = 0; n < landed; n++) resumed.next()
      if (perGroup) {
        // Groups may differ by one batch; continue only the writers that are whole.
        if (!(old.every(Boolean) || next.every(Boolean))) continue
      }
      workloads.push(resumed)
    }
    return workloads
  })

const scenario = (seed: number, instances: number) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "flotilla-crash-"))),
    (dir) =>
      Effect.gen(function* () {
        const random = rng(seed)
        const delayMs = 5 + (random() % 300)
        const run = yield* Effect.promise(() => crashRun(dir, seed, instances, delayMs, 8))
        expect(run.acked.reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
        const layer = layerLevel(dir)
        const resumed = yield* Effect.gen(function* () {
          const store = yield* LogStore
          const workloads = yield* verify(store, seed, run.acked, instances > 1)
          // No temporary file survives reopening, and no snapshot file is left unreferenced.
          const files = readdirSync(join(dir, "snapshots"))
          expect(files.filter((f) => f.endsWith(".tmp"))).toEqual([])
          if (instances === 1) {
            let withSnapshot = 0
            for (const wl of workloads) for (const m of wl.models) if (snapshotIndex(m) > 0) withSnapshot++
            expect(files.length).toBe(withSnapshot)
          }
          // The store keeps working: every writer writes its next batch.
          for (const wl of workloads) {
            const updates = wl.next()
            if (updates.length > 0) yield* store.write(updates)
          }
          return workloads
        }).pipe(Effect.provide(layer))
        // ... and it is all there after another reopen.
        yield* Effect.gen(function* () {
          const store = yield* LogStore
          for (const wl of resumed)
            for (let k = 0; k < wl.groups.length; k++)
              expect(yield* stateOf(store, wl.groups[k]!)).toEqual(describeStorage(wl.models[k]!.storage))
        }).pipe(Effect.provide(layer))
      }),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true })),
  )

describe("LevelDB store under SIGKILL", () => {
  for (const seed of seeds) {
    it.live(`seed ${seed}: every acknowledged batch survives whole, nothing torn, the store goes on`, () =>
      scenario(seed, 1),
    )
  }
  it.live("with 3 LevelDB instances, every group survives whole (seed 5)", () => scenario(5, 3))
})
