/**
 * Lease expiry of the KV store (decision 0092) across leader changes, in the runtime
 * simulation (KvSim.ts). A client holds two leases of TTL `TTL` with two keys each: `kept`,
 * kept alive every `TTL / 6` for the whole run, and `dying`, kept alive until `stopAt` and
 * then left to expire. The leader of their shard crashes `TTL / 3` after `stopAt` (restarted
 * a little later), and a seeded schedule crashes, isolates and partitions leaders throughout.
 * In the committed history (the converged replicas' events, stamped with the shard clock,
 * which is the simulation's one virtual clock):
 * - `kept`'s keys are not deleted before the last keep-alive the client sent plus TTL;
 * - `dying`'s keys are deleted together, at or after the last keep-alive the client sent plus
 *   TTL, and at or after every crash of the shard's leader before it plus TTL (a new leader
 *   restarts the remaining time: it waits a whole TTL from its takeover), and not much later
 *   than the latest of those (a leader's tick and a commit after an election).
 * Replay with FLOTILLA_SEED=<seed>; FLOTILLA_SIM_LONG=1 runs longer schedules.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import type { KvRevClientService, Lease } from "../../src/client/KvRevClient.js"
import * as KvSim from "../../src/testing/KvSim.js"
import * as KvSimFaults from "../../src/testing/KvSimFaults.js"
import * as RuntimeSim from "../../src/testing/RuntimeSim.js"
import { keepAlive as keepAliveFor } from "./support/LeaseKeepAlive.js"

const LONG = process.env.FLOTILLA_SIM_LONG === "1"
/** Wall-clock limit of one seed: the long variant runs minutes. */
const TEST_TIMEOUT = LONG ? 900_000 : 60_000
const TTL = 3_000
const STOP_AT = 4_000
/** The latest a due lease may end: an election, a tick of the leader's timer, a commit. */
const EXPIRY_SLACK = 5_000

const text = (b: Uint8Array) => new TextDecoder().decode(b)

/** Keeps `lease` alive until `until` (support/LeaseKeepAlive.ts) at this file's TTL. */
const keepAlive = (c: KvRevClientService, lease: Lease, until: number) => keepAliveFor(c, lease, until, TTL)

describe("KV simulation: leases expire late, never early, across leader changes", () => {
  // Regression: the simulation's nodes were given `kindOf` only, and a node runs the leader
  // tasks of the kinds in `NodeConfig.kinds` only, so no lease ever expired in the simulation.
  it.effect("a lease left alone ends a TTL after its grant, without faults", () =>
    KvSim.run({ seed: 5, shards: 1 }, (kv) =>
      Effect.gen(function* () {
        const { sim } = kv
        yield* sim.waitForLeaders()
        const c = yield* kv.client(1)
        const lease = yield* sim.run(c.grant("{L}", TTL))
        const grantedBy = sim.now()
        yield* sim.run(c.put("{L}a", "v", { lease }))
        yield* sim.advance(TTL + 1_000)
        const h = (yield* kv.converged()).get(kv.groupOf("{L}"))!
        const gone = h.events.filter((v) => v.value === null)
        expect(gone.map((v) => text(v.key))).toEqual(["{L}a"])
        const endedAt = h.times.get(gone[0]!.rev)!
        expect(endedAt).toBeGreaterThanOrEqual(grantedBy - 100 + TTL)
        expect(endedAt).toBeLessThanOrEqual(grantedBy + TTL + 500)
      }),
    ),
  )

  // Seed 27: two leader partitions in a row keep `kept`'s keep-alives from landing for a TTL, so
  // it ends; it must still not end before its last answered keep-alive plus TTL.
  for (const seed of RuntimeSim.seeds(LONG ? [1901, 1902, 1903, 1904, 1905, 27] : [1901, 1902, 1903, 27])) {
    it.effect(
      `kept leases live, a left lease ends after its TTL restarted by new leaders (seed ${seed})`,
      () =>
        KvSim.run({ seed, shards: 1, router: { deadlineMs: 10_000, attemptTimeoutMs: 500 } }, (kv) =>
          Effect.gen(function* () {
            const { sim } = kv
            const group = kv.groupOf("{L}")
            yield* sim.waitForLeaders({ timeoutMs: 30_000 })
            const c = yield* kv.client(1)
            const setup = Effect.gen(function* () {
              const kept = yield* c.grant("{L}", TTL)
              const dying = yield* c.grant("{L}", TTL)
              for (const k of ["kept1", "kept2"]) yield* c.put(`{L}${k}`, "v", { lease: kept })
              for (const k of ["dying1", "dying2"]) yield* c.put(`{L}${k}`, "v", { lease: dying })
              return { kept, dying }
            })
            const { kept, dying } = yield* sim.run(kv.withClientRandom(1, setup))
            const start = sim.now()
            const end = start + (LONG ? 40_000 : 14_000)
            const keptFiber = yield* kv.forkClient(1, keepAlive(c, kept, end))
            const dyingFiber = yield* kv.forkClient(1, keepAlive(c, dying, start + STOP_AT))

            // Crashes of the shard's leader, at virtual times: each restarts the remaining time.
            const leaderCrashes: number[] = []
            const crashLeader = Effect.gen(function* () {
              const leader = (yield* sim.leaders({ groups: [group] })).get(group)
              if (leader === undefined) return
              sim.note(`crash node ${leader} (leader of group ${group})`)
              leaderCrashes.push(sim.now())
              yield* Effect.orDie(sim.crash(leader))
            })
            yield* KvSimFaults.play(kv, {
              steps: 2,
              gapMs: [800, 1_500],
              kinds: ["isolateLeader", "partitionLeader"],
            })
            yield* KvSimFaults.settle(kv)
            yield* sim.advance(Math.max(0, start + STOP_AT + TTL / 3 - sim.now()))
            yield* sim.waitForLeaders({ groups: [group], timeoutMs: 10_000 })
            yield* crashLeader
            yield* sim.advance(TTL / 2)
            yield* KvSimFaults.settle(kv)
            // Leader crashes and other faults until the end, while `kept` stays alive.
            // Each new leader leads a while before it is crashed (failover takes up to ~2 s):
            // keep-alives must be able to land, or `kept` would rightly end.
            while (sim.now() < end - 3_000) {
              yield* sim.advance(1_500)
              yield* KvSimFaults.settle(kv)
              yield* sim.waitForLeaders({ groups: [group], timeoutMs: 10_000 })
              yield* sim.advance(1_500)
              yield* crashLeader
            }
            yield* KvSimFaults.settle(kv)
            const keptAlive = yield* sim.join(keptFiber, { timeoutMs: 60_000 })
            const lastKeptAlive = keptAlive.lastSent
            const lastDyingAlive = (yield* sim.join(dyingFiber, { timeoutMs: 60_000 })).lastSent
            if (!keptAlive.ended) expect(lastKeptAlive).toBeGreaterThan(end - TTL)

            // The leader crashes restarted its time again and again: it ends a TTL after the last one.
            yield* sim.until(
              "the left lease ended",
              Effect.sync(() =>
                sim
                  .upNodes()
                  .some((n) =>
                    Option.exists(kv.history(n, group), (h) =>
                      h.events.some((v) => v.value === null && text(v.key).includes("dying")),
                    ),
                  ),
              ),
              { timeoutMs: TTL + EXPIRY_SLACK + 10_000 },
            )
            const history = (yield* kv.converged({ timeoutMs: 60_000 })).get(group)!
            const deletions = history.events.filter((v) => v.value === null)
            const keptGone = deletions.filter((v) => text(v.key).includes("kept"))
            // Kept alive until `end` (or until keep-alives could not land for a TTL): it may end once
            // the last keep-alive's TTL has run out, not before.
            const keptEarly = keptGone.filter((v) => history.times.get(v.rev)! < lastKeptAlive + TTL)
            expect(keptEarly.map((v) => `${text(v.key)} at ${history.times.get(v.rev)}`)).toEqual([])
            if (keptAlive.ended) expect(keptGone.length).toBe(2)
            const dyingGone = deletions.filter((v) => text(v.key).includes("dying"))
            expect(dyingGone.map((v) => text(v.key)).sort()).toEqual(["{L}dying1", "{L}dying2"])
            expect(new Set(dyingGone.map((v) => v.rev)).size).toBe(1)
            const endedAt = history.times.get(dyingGone[0]!.rev)!
            const crashesBefore = leaderCrashes.filter((t) => t < endedAt)
            const notBefore = Math.max(lastDyingAlive + TTL, ...crashesBefore.map((t) => t + TTL))
            sim.note(
              `dying lease ${dying.id}: last keep-alive sent at ${lastDyingAlive}, leader crashes ${leaderCrashes.join(", ")}, ended at ${endedAt}`,
            )
            expect(endedAt).toBeGreaterThanOrEqual(notBefore)
            expect(endedAt).toBeLessThanOrEqual(notBefore + EXPIRY_SLACK)
          }),
        ),
      TEST_TIMEOUT,
    )
  }
})
