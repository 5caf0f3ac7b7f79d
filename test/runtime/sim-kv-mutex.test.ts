/**
 * The mutex recipe (`KvRecipes.lock`, etcd's concurrency mutex over a lease) in the runtime
 * simulation (KvSim.ts): five clients take the lock in turn, hold it a drawn while and release
 * it, while a seeded schedule crashes, isolates and partitions the leader of the lock's shard.
 * In simulated time, never two holders at once (from `lock` returning to the start of the
 * release), and fencing tokens grow with every holder. The recipe runs unchanged: it needs a
 * `KvRevClient` and Effect's clock, which inside the simulation is the virtual clock.
 * Replay with FLOTILLA_SEED=<seed>; FLOTILLA_SIM_LONG=1 runs longer schedules.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Random } from "effect"
import * as KvRecipes from "../../src/client/KvRecipes.js"
import * as KvSim from "../../src/testing/KvSim.js"
import * as KvSimFaults from "../../src/testing/KvSimFaults.js"
import * as RuntimeSim from "../../src/testing/RuntimeSim.js"

const LONG = process.env.FLOTILLA_SIM_LONG === "1"
/** Wall-clock limit of one seed: the long variant runs minutes. */
const TEST_TIMEOUT = LONG ? 900_000 : 60_000
const CONTENDERS = 5
const TTL = 2_000
const ROUNDS = LONG ? 20 : 4

describe("KV simulation: the mutex never has two holders", () => {
  for (const seed of RuntimeSim.seeds(LONG ? [2001, 2002, 2003, 2004, 2005] : [2001, 2002, 2003])) {
    it.effect(
      `under leader crashes, isolations and partitions (seed ${seed})`,
      () =>
        KvSim.run({ seed, shards: 2, router: { deadlineMs: 10_000, attemptTimeoutMs: 1_000 } }, (kv) =>
          Effect.gen(function* () {
            const { sim } = kv
            yield* sim.waitForLeaders({ timeoutMs: 30_000 })
            const trace: string[] = []
            const violations: string[] = []
            const tokens: number[] = []
            let holders = 0
            let failures = 0
            const log = (line: string) =>
              Effect.map(Clock.currentTimeMillis, (t) => void trace.push(`t=${t} ${line}`))
            const contender = (i: number, layer: ReturnType<typeof kv.layer>) =>
              Effect.gen(function* () {
                const rounds = ROUNDS
                for (let round = 0; round < rounds; ) {
                  const held = yield* Effect.either(
                    Effect.scoped(
                      Effect.gen(function* () {
                        const h = yield* KvRecipes.lock("m", { ttlMs: TTL })
                        holders++
                        yield* log(`c${i} holds (token ${h.fencingToken})`)
                        if (holders > 1) violations.push(trace.at(-1)!)
                        if (tokens.length > 0 && h.fencingToken <= tokens.at(-1)!)
                          violations.push(`${trace.at(-1)!}: token not above ${tokens.at(-1)}`)
                        tokens.push(h.fencingToken)
                        yield* Effect.sleep(`${50 + (yield* Random.nextIntBetween(0, 250))} millis`)
                        yield* log(`c${i} releases`)
                        holders--
                      }),
                    ).pipe(Effect.provide(layer)),
                  )
                  if (held._tag === "Right") round++
                  else {
                    failures++
                    yield* log(`c${i} lock failed: ${held.left._tag}`)
                    yield* Effect.sleep("200 millis")
                  }
                }
              })
            const fibers = []
            for (let i = 1; i <= CONTENDERS; i++)
              fibers.push(yield* kv.forkClient(i, contender(i, kv.layer(yield* kv.client(i)))))
            const group = kv.groupOf("{m}")
            yield* KvSimFaults.play(kv, {
              steps: LONG ? 30 : 6,
              groups: [group],
              gapMs: [800, 2_000],
              kinds: ["crashLeader", "isolateLeader", "partitionLeader"],
            })
            sim.note("lift every fault")
            yield* KvSimFaults.settle(kv)
            for (const f of fibers) yield* sim.join(f, { timeoutMs: 300_000 })
            if (violations.length > 0)
              expect.fail(
                `two holders (group ${group}):\n${violations.join("\n")}\n--- trace:\n${trace.join("\n")}`,
              )
            expect(tokens.length).toBe(CONTENDERS * ROUNDS)
            expect(failures).toBeLessThan(tokens.length)
          }),
        ),
      TEST_TIMEOUT,
    )
  }
})
