/**
 * Transactions and compare-and-set by revision of the KV shard (issue 17) in the runtime
 * simulation (KvSim.ts): four clients run the seeded workload of `KvSimWorkload` (reads, puts,
 * CAS by value, CAS by mod revision, random compare/then/else transactions) over two shards
 * while a seeded schedule crashes, isolates and partitions their leaders. The history must be
 * linearizable under the revision model (`KvRevModel`): every answer, revisions included, fits
 * one order of the operations. Then every replica must hold the same events.
 * Replay with FLOTILLA_SEED=<seed>; FLOTILLA_SIM_LONG=1 runs longer schedules.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { revModel } from "../../src/testing/KvRevModel.js"
import * as KvSim from "../../src/testing/KvSim.js"
import * as KvSimFaults from "../../src/testing/KvSimFaults.js"
import { RevHistory, runClient } from "../../src/testing/KvSimWorkload.js"
import { checkLinearizable, describeHistory } from "../../src/testing/Linearizability.js"
import * as RuntimeSim from "../../src/testing/RuntimeSim.js"

const LONG = process.env.FLOTILLA_SIM_LONG === "1"
/** Wall-clock limit of one seed: the long variant runs minutes. */
const TEST_TIMEOUT = LONG ? 900_000 : 60_000
const CLIENTS = 4

/** The workload under a fault schedule; the history once every fault is lifted and every client is done. */
const workload = (kv: KvSim.KvSim, options: { readonly ops: number; readonly steps: number }) =>
  Effect.gen(function* () {
    const { sim } = kv
    yield* sim.waitForLeaders({ timeoutMs: 30_000 })
    const tags = KvSim.tagPerGroup(kv)
    const history = new RevHistory()
    const fibers = []
    for (let i = 1; i <= CLIENTS; i++) {
      const c = yield* kv.client(i)
      fibers.push(
        yield* kv.forkClient(
          i,
          runClient(history, c, { client: i, seed: kv.seed, tags, ops: options.ops, pauseMs: 100 }),
        ),
      )
    }
    yield* KvSimFaults.play(kv, { steps: options.steps })
    sim.note("lift every fault")
    yield* KvSimFaults.settle(kv)
    for (const f of fibers) yield* sim.join(f, { timeoutMs: 300_000 })
    return history
  })

const options = (seed: number): KvSim.KvSimOptions => ({
  seed,
  shards: 2,
  // Small snapshots: restarted nodes catch up from the leaders' snapshots.
  settings: { snapshotEntries: 25, keepEntries: 5 },
  router: { deadlineMs: 8_000, attemptTimeoutMs: 1_000 },
})

describe("KV simulation: transactions and CAS by revision are linearizable", () => {
  for (const seed of RuntimeSim.seeds([1701, 1702, 1703])) {
    it.effect(
      `under leader crashes, isolations and partitions (seed ${seed})`,
      () =>
        KvSim.run(options(seed), (kv) =>
          Effect.gen(function* () {
            const history = yield* workload(kv, { ops: LONG ? 300 : 80, steps: LONG ? 40 : 8 })
            const result = checkLinearizable(revModel, history.ops)
            if (result.ok === false)
              expect.fail(`not linearizable (${result.reason}):\n${describeHistory(result.part)}`)
            expect(result.ok).toBe(true)
            // Most operations must have an answer: a run of timeouts would check nothing.
            const answered = history.ops.filter((o) => o.output !== undefined).length
            expect(answered).toBeGreaterThan(history.ops.length / 2)
            const converged = yield* kv.converged({ timeoutMs: 60_000 })
            expect([...converged.values()].every((h) => h.revision > 0)).toBe(true)
          }),
        ),
      TEST_TIMEOUT,
    )
  }

  it.effect("a seed replays: the same history, at the same virtual times, and the same cluster", () =>
    Effect.gen(function* () {
      const once = () =>
        KvSim.run(options(1704), (kv) =>
          Effect.gen(function* () {
            const history = yield* workload(kv, { ops: 25, steps: 3 })
            const ops = history.ops.map((o) => `${o.atMs} ${describeHistory([o])}`).join("\n")
            return `${ops}\n${yield* kv.sim.fingerprint}`
          }),
        )
      const first = yield* once()
      expect(first.split("\n").length).toBeGreaterThan(50)
      expect(yield* once()).toBe(first)
    }),
  )
})
