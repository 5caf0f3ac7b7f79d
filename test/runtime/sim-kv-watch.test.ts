/**
 * Watches of the KV store (decision 0093) in the runtime simulation (KvSim.ts): while four
 * clients write (puts, deletes, transactions of several keys) over two shards and a seeded
 * schedule crashes, isolates and partitions leaders, watchers read the shards' event logs:
 * one per hash tag (one shard), one on every key (both shards, merged), one that is stopped
 * and resumed from its last position, and one started "from now" mid-run (it must have every
 * event from its first one on). Afterwards each must have received exactly the
 * committed history of what it watches (the converged replicas' event logs), each event once,
 * in revision order per shard. Replay with FLOTILLA_SEED=<seed>; FLOTILLA_SIM_LONG=1 runs
 * longer schedules.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import * as KvWatch from "../../src/client/KvWatch.js"
import * as KvSim from "../../src/testing/KvSim.js"
import * as KvSimFaults from "../../src/testing/KvSimFaults.js"
import { RevHistory, runClient } from "../../src/testing/KvSimWorkload.js"
import * as RuntimeSim from "../../src/testing/RuntimeSim.js"

const LONG = process.env.FLOTILLA_SIM_LONG === "1"
/** Wall-clock limit of one seed: the long variant runs minutes. */
const TEST_TIMEOUT = LONG ? 900_000 : 60_000
const WRITERS = 4

const text = (b: Uint8Array | null) => (b === null ? "-" : new TextDecoder().decode(b))
/** An event as the comparison sees it: group, revision, sub, type, key, value, versions, lease. */
const line = (
  group: number,
  e: {
    readonly revision: number
    readonly sub: number
    readonly key: Uint8Array
    readonly value: Uint8Array | null
    readonly createRevision: number
    readonly version: number
    readonly lease: number
  },
) =>
  `g${group} ${e.revision}.${e.sub} ${text(e.key)}=${text(e.value)} c${e.createRevision} v${e.version} l${e.lease}`

describe("KV simulation: watches deliver every event once, in order", () => {
  for (const seed of RuntimeSim.seeds(LONG ? [1801, 1802, 1803, 1804, 1805] : [1802, 1803])) {
    it.effect(
      `across leader crashes, isolations, partitions and restarts (seed ${seed})`,
      () =>
        KvSim.run(
          {
            seed,
            shards: 2,
            // Small snapshots: restarted nodes catch up from the leaders' snapshots (events included).
            settings: { snapshotEntries: 25, keepEntries: 5 },
            router: { deadlineMs: 15_000, attemptTimeoutMs: 1_000 },
          },
          (kv) =>
            Effect.gen(function* () {
              const { sim } = kv
              yield* sim.waitForLeaders({ timeoutMs: 30_000 })
              const tags = KvSim.tagPerGroup(kv)
              const watcherClient = yield* kv.client(100)
              const watch = (prefix: string, into: string[], options: KvWatch.WatchOptions = {}) =>
                kv.forkClient(
                  100,
                  KvWatch.watch(watcherClient.router, prefix, { fromRevision: 1, ...options }).pipe(
                    Stream.runForEach((e) => Effect.sync(() => into.push(line(e.group, e)))),
                  ),
                )
              const perTag = tags.map(() => [] as string[])
              const everything: string[] = []
              const resumed: string[] = []
              const watchers = [
                ...(yield* Effect.forEach(tags, (t, i) => watch(`{${t}}`, perTag[i]!))),
                yield* watch("", everything),
              ]
              let firstHalf = yield* watch("", resumed)

              const history = new RevHistory()
              const writers = []
              for (let i = 1; i <= WRITERS; i++) {
                const c = yield* kv.client(i)
                writers.push(
                  yield* kv.forkClient(
                    i,
                    runClient(history, c, { client: i, seed, tags, ops: LONG ? 300 : 60, pauseMs: 100 }),
                  ),
                )
              }
              yield* KvSimFaults.play(kv, { steps: LONG ? 40 : 4 })
              // Stop one watcher mid-run and resume it from the position of its last events.
              sim.note("resume a watcher")
              yield* sim.run(Fiber.interrupt(firstHalf))
              const position = new Map<number, number>()
              for (const l of resumed) {
                const [g, rev] = l.split(" ")
                position.set(Number(g!.slice(1)), Number(rev!.split(".")[0]) + 1)
              }
              firstHalf = yield* watch("", resumed, { resume: position })
              watchers.push(firstHalf)
              // And one that starts from now (each shard's revision when it starts, plus one).
              const fromNow: string[] = []
              watchers.push(yield* watch("", fromNow, { fromRevision: undefined }))
              yield* KvSimFaults.play(kv, { steps: LONG ? 20 : 3, stream: 1 })
              sim.note("lift every fault")
              yield* KvSimFaults.settle(kv)
              for (const f of writers) yield* sim.join(f, { timeoutMs: 300_000 })
              // A last write per shard, after every watcher started.
              const last = yield* kv.client(1)
              for (const t of tags) yield* sim.run(kv.withClientRandom(1, last.put(`{${t}}last`, "1")))
              const committed = yield* kv.converged({ timeoutMs: 60_000 })
              const expected = (prefix: string) =>
                kv.shardGroups.flatMap((g) =>
                  committed
                    .get(g)!
                    .events.filter((v) => text(v.key).startsWith(prefix))
                    .map((v) => line(g, { ...v, revision: v.rev, createRevision: v.create, value: v.value })),
                )
              const total = expected("").length
              yield* sim.until(
                "every watcher has caught up",
                Effect.sync(() => everything.length >= total && resumed.length >= total),
                { timeoutMs: 30_000 },
              )
              yield* sim.advance(500)
              for (const [i, t] of tags.entries()) expect(perTag[i]).toEqual(expected(`{${t}}`))
              const byGroup = (lines: string[]) =>
                kv.shardGroups.flatMap((g) => lines.filter((l) => l.startsWith(`g${g} `)))
              expect(byGroup(everything)).toEqual(expected(""))
              expect(byGroup(resumed)).toEqual(expected(""))
              // From now: from its first event on in each shard, every committed event, once, in order.
              for (const g of kv.shardGroups) {
                const got = fromNow.filter((l) => l.startsWith(`g${g} `))
                if (got.length === 0) continue
                const all = expected("").filter((l) => l.startsWith(`g${g} `))
                expect(got).toEqual(all.slice(all.indexOf(got[0]!)))
              }
              expect(fromNow.length).toBeGreaterThanOrEqual(tags.length)
              expect(total).toBeGreaterThan(60)
              // A watch ends only when interrupted: one that failed (or ended) is a failure.
              for (const f of watchers) expect(f.unsafePoll()).toBeNull()
              for (const f of watchers) yield* sim.run(Fiber.interrupt(f))
            }),
        ),
      TEST_TIMEOUT,
    )
  }
})
