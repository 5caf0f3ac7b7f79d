/**
 * KV leases (decision 0092) when the nodes' clocks disagree (SimClock.ts). What the runtime
 * promises: lease time is measured by the shard's leader, on its own clock, and a new leader
 * restarts the remaining time from its takeover. So clock OFFSETS between nodes (minutes here)
 * never shorten a lease, and a DRIFT bounded by ρ (the leader's clock running up to ρ fast)
 * shortens it by that factor at most: a lease lives at least TTL / (1 + ρ) of real time after
 * the keep-alive that last renewed it was sent. A holder that counts its lock valid for that
 * long after sending its keep-alive (etcd's client rule, with the drift bound) never shares it:
 * a second client's create-if-absent on the lock key succeeds only after that.
 *
 * The nodes' clocks: 5 minutes ahead and 30% fast, 20% slow, 2 minutes ahead and 10% fast
 * (rotated over the nodes by the seed), ρ = 0.3; the leader of the shard is crashed while the
 * lease lives and again while it runs out, so the lease passes between leaders whose clocks
 * differ by minutes. Times below are base (real) time: the test and the clients run on it.
 *
 * A leader whose clock is STEPPED forward (an NTP step, a resumed VM) must not end leases
 * early either: the lease timer measures elapsed time on the monotonic reading (which a step
 * does not move), not on the wall reading that stamps commands.
 * Replay with FLOTILLA_SEED=<seed>.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Option } from "effect"
import type { KvRevClientService, Lease } from "../../src/client/KvRevClient.js"
import * as KvSim from "../../src/testing/KvSim.js"
import * as RuntimeSim from "../../src/testing/RuntimeSim.js"
import type { ClockSkew } from "../../src/testing/SimClock.js"

const TTL = 3_000
/** The fastest drift of any node (ρ) and the slowest. */
const MAX_DRIFT = 0.3
const MIN_DRIFT = -0.2
const SKEWS: ReadonlyArray<ClockSkew> = [
  { offsetMs: 300_000, drift: MAX_DRIFT },
  { drift: MIN_DRIFT },
  { offsetMs: 120_000, drift: 0.1 },
]
/** Real time a lease surely lives after the send of the keep-alive that last renewed it. */
const SURE_MS = Math.floor(TTL / (1 + MAX_DRIFT))
/** Real time a leader may take to measure one TTL (the slowest clock). */
const SLOW_TTL_MS = Math.ceil(TTL / (1 + MIN_DRIFT))
/** The latest a due lease may end after that: an election, a tick of the leader's timer, a commit. */
const EXPIRY_SLACK = 5_000
const LOCK = "{L}lock"

/** Keeps `lease` alive every `TTL / 6` until `until`: the send time of the last keep-alive answered. */
const keepAlive = (c: KvRevClientService, lease: Lease, until: number) =>
  Effect.gen(function* () {
    let lastSent = 0
    for (;;) {
      const sent = yield* Clock.currentTimeMillis
      if (sent >= until) return { lastSent, ended: false }
      const r = yield* Effect.either(c.keepAlive(lease, { deadline: `${TTL / 2} millis` }))
      if (r._tag === "Right") lastSent = sent
      else if (r.left._tag === "LeaseNotFound") return { lastSent, ended: true }
      yield* Effect.sleep(`${TTL / 6} millis`)
    }
  })

/**
 * Watches the replicas every 5 ms (base time): the first instant a replica that held the lease
 * no longer does (its expiry applied there). A restarted replica is a new state machine, so
 * its replay of the log does not count as an expiry.
 */
const expiryWatch = (kv: KvSim.KvSim, group: number, leaseId: number) => {
  const held = new WeakSet<object>()
  let endedAt: number | undefined
  const poll = Effect.gen(function* () {
    while (endedAt === undefined) {
      for (const n of kv.sim.upNodes()) {
        const sm = kv.stateMachine(n, group)
        if (Option.isNone(sm)) continue
        const has = sm.value.leaseDeadlines().some((l) => l.id === leaseId)
        if (has) held.add(sm.value)
        else if (held.has(sm.value)) endedAt ??= yield* Clock.currentTimeMillis
      }
      yield* Effect.sleep("5 millis")
    }
  })
  return { poll, endedAt: () => endedAt }
}

/** Client B: tries to create the lock key under its own lease every 25 ms; when it succeeded. */
const contender = (c: KvRevClientService) =>
  Effect.gen(function* () {
    const lease = yield* c.grant("{L}", 60_000)
    for (;;) {
      const r = yield* Effect.either(
        c.txn({
          compare: [{ key: LOCK, target: "createRevision", result: "=", number: 0 }],
          success: [{ op: "put", key: LOCK, value: "b", lease: lease.id }],
        }),
      )
      if (r._tag === "Right" && r.right.succeeded) return yield* Clock.currentTimeMillis
      yield* Effect.sleep("25 millis")
    }
  })

/** Crashes the group's agreed leader (none: nothing); the crash instant. */
const crashLeader = (kv: KvSim.KvSim, group: number, crashes: number[]) =>
  Effect.gen(function* () {
    const { sim } = kv
    const leader = (yield* sim.leaders({ groups: [group] })).get(group)
    if (leader === undefined) return undefined
    sim.note(`crash node ${leader} (leader of group ${group})`)
    crashes.push(sim.now())
    yield* Effect.orDie(sim.crash(leader))
    return leader
  })

describe("KV simulation: leases under clock offsets and bounded drift", () => {
  for (const seed of RuntimeSim.seeds([2201, 2202, 2203])) {
    it.effect(
      `a lease lives TTL / (1 + ρ) after its last keep-alive, across leaders minutes apart (seed ${seed})`,
      () =>
        KvSim.run({ seed, shards: 1, router: { deadlineMs: 10_000, attemptTimeoutMs: 500 } }, (kv) =>
          Effect.gen(function* () {
            const { sim } = kv
            for (const n of [1, 2, 3]) yield* sim.skewClock(n, SKEWS[(n + seed) % 3]!)
            const group = kv.groupOf(LOCK)
            yield* sim.waitForLeaders({ timeoutMs: 30_000 })
            const a = yield* kv.client(1)
            const b = yield* kv.client(2)
            const { held, kept } = yield* sim.run(
              kv.withClientRandom(
                1,
                Effect.gen(function* () {
                  const held = yield* a.grant("{L}", TTL)
                  const kept = yield* a.grant("{L}", TTL)
                  yield* a.put(LOCK, "a", { lease: held })
                  yield* a.put("{L}kept", "a", { lease: kept })
                  return { held, kept }
                }),
              ),
            )
            const start = sim.now()
            const stopAt = start + 4_000
            const end = stopAt + 9_000
            const heldWatch = expiryWatch(kv, group, held.id)
            const keptWatch = expiryWatch(kv, group, kept.id)
            yield* sim.fork(heldWatch.poll)
            const keptPoll = yield* sim.fork(keptWatch.poll)
            const heldAlive = yield* kv.forkClient(1, keepAlive(a, held, stopAt))
            const keptAlive = yield* kv.forkClient(1, keepAlive(a, kept, end))
            const acquired = yield* kv.forkClient(2, contender(b))

            // The lease passes to a new leader while it is kept alive, and again while it runs out.
            const crashes: number[] = []
            yield* sim.advance(1_500)
            const first = yield* crashLeader(kv, group, crashes)
            yield* sim.advance(1_000)
            if (first !== undefined) yield* sim.restart(first)
            yield* sim.advance(Math.max(0, stopAt + TTL / 3 - sim.now()))
            yield* sim.waitForLeaders({ groups: [group], timeoutMs: 10_000 })
            const second = yield* crashLeader(kv, group, crashes)
            yield* sim.advance(1_000)
            if (second !== undefined) yield* sim.restart(second)

            const lastHeld = (yield* sim.join(heldAlive, { timeoutMs: 30_000 })).lastSent
            const bAt = yield* sim.join(acquired, { timeoutMs: 30_000 })
            const heldEnded = heldWatch.endedAt()!
            const crashesBefore = crashes.filter((t) => t < heldEnded)
            sim.note(
              `lease ${held.id}: last keep-alive sent at ${lastHeld}, leader crashes ${crashes.join(", ")}, ended at ${heldEnded}, B acquired at ${bAt}`,
            )
            // Never early: A's lock, valid until its last keep-alive's send + TTL / (1 + ρ), is not shared.
            expect(heldEnded).toBeGreaterThanOrEqual(lastHeld + SURE_MS)
            expect(bAt).toBeGreaterThanOrEqual(lastHeld + SURE_MS)
            // Not much late: a TTL on the slowest clock after the last keep-alive or the last takeover.
            const notAfter = Math.max(lastHeld, ...crashesBefore) + SLOW_TTL_MS + EXPIRY_SLACK
            expect(heldEnded).toBeLessThanOrEqual(notAfter)

            // The lease kept alive all along lives on (its keep-alives landed through both failovers).
            const keptResult = yield* sim.join(keptAlive, { timeoutMs: 30_000 })
            expect(keptResult.ended).toBe(false)
            expect(keptWatch.endedAt()).toBeUndefined()
            yield* sim.advance(SURE_MS - 200)
            expect(keptWatch.endedAt()).toBeUndefined()
            yield* sim.advance(SLOW_TTL_MS + EXPIRY_SLACK)
            expect(keptWatch.endedAt()).toBeGreaterThanOrEqual(keptResult.lastSent + SURE_MS)
            yield* sim.join(keptPoll)
          }),
        ),
      60_000,
    )
  }

  it.effect("a leader's clock stepped forward by minutes ends no lease early", () =>
    KvSim.run({ seed: 2210, shards: 1, router: { deadlineMs: 10_000, attemptTimeoutMs: 500 } }, (kv) =>
      Effect.gen(function* () {
        const { sim } = kv
        const group = kv.groupOf(LOCK)
        const leaders = yield* sim.waitForLeaders({ timeoutMs: 30_000 })
        const a = yield* kv.client(1)
        const held = yield* sim.run(
          kv.withClientRandom(
            1,
            Effect.gen(function* () {
              const held = yield* a.grant("{L}", TTL)
              yield* a.put(LOCK, "a", { lease: held })
              return held
            }),
          ),
        )
        const watch = expiryWatch(kv, group, held.id)
        yield* sim.fork(watch.poll)
        const alive = yield* kv.forkClient(1, keepAlive(a, held, sim.now() + 6_000))
        // Well past the takeover wait: the leader has led for more than a TTL.
        yield* sim.advance(TTL + 500)
        const leader = leaders.get(group)!
        yield* sim.skewClock(leader, { offsetMs: 600_000 })
        yield* sim.advance(1_000)
        // A step back later (the clock corrected) must not end it early either.
        yield* sim.skewClock(leader, { offsetMs: 0 })
        const { lastSent, ended } = yield* sim.join(alive, { timeoutMs: 30_000 })
        console.log("DEBUG", leader, lastSent, ended, watch.endedAt(), sim.logs().slice(-40).join("\n"))
        expect(ended).toBe(false)
        const beforeEnd = watch.endedAt()
        expect(beforeEnd).toBeUndefined()
        yield* sim.advance(SURE_MS + 20_000)
        const endedAt = watch.endedAt()
        sim.note(`lease ${held.id}: last keep-alive sent at ${lastSent}, ended at ${endedAt}`)
        expect(endedAt).toBeDefined()
        expect(endedAt!).toBeGreaterThanOrEqual(lastSent + TTL)
      }),
    ),
  )
})
