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
 * The nodes' clocks drift 30% fast, 20% slow and 10% fast, ρ = 0.3 (the first leader gets the
 * slow one), and in the second scenario the other two are also minutes ahead; the leader of
 * the shard is crashed while the lease lives and again while it runs out, so the lease passes
 * to a leader whose clock is ahead (the direction that could end it early), and then on. Times below are base (real) time: the test and the clients run
 * on it.
 *
 * How LATE a lease may end depends on the clocks too: the shard clock is the latest proposer
 * time seen (ShardRequests.ts), so under a new leader whose clock is behind it the shard clock
 * stands still until that leader's clock catches up, and so do lease deadlines (decision 0126).
 * With drift alone the gap grows with the run; with offsets of minutes a lease may outlive
 * its TTL by minutes, so the second scenario checks the safety promise only.
 *
 * A leader whose clock is STEPPED forward (an NTP step, a resumed VM) must not end leases
 * early either: the lease timer measures elapsed time on the monotonic reading (which a step
 * does not move), not on the wall reading that stamps commands.
 * Replay with FLOTILLA_SEED=<seed>.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Option } from "effect"
import type { KvRevClientService, Lease } from "../../src/client/KvRevClient.js"
import * as KvSim from "../../src/testing/KvSim.js"
import * as RuntimeSim from "../../src/testing/RuntimeSim.js"
import type { ClockSkew } from "../../src/testing/SimClock.js"
import { keepAlive as keepAliveFor } from "./support/LeaseKeepAlive.js"

const TTL = 3_000
/** The fastest drift of any node (ρ) and the slowest. */
const MAX_DRIFT = 0.3
const MIN_DRIFT = -0.2
const DRIFTS: ReadonlyArray<ClockSkew> = [{ drift: MAX_DRIFT }, { drift: MIN_DRIFT }, { drift: 0.1 }]
/** The same drifts, minutes apart. */
const OFFSETS: ReadonlyArray<ClockSkew> = [
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

/** Keeps `lease` alive until `until` (support/LeaseKeepAlive.ts) at this file's TTL. */
const keepAlive = (c: KvRevClientService, lease: Lease, until: number) => keepAliveFor(c, lease, until, TTL)

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

/** Client B: tries to create the lock key under its own lease every 100 ms; when it succeeded. */
const contender = (c: KvRevClientService, out: { at?: number }) =>
  Effect.gen(function* () {
    const lease = yield* c.grant("{L}", 60_000)
    for (;;) {
      const r = yield* Effect.either(
        c.txn({
          compare: [{ key: LOCK, target: "createRevision", result: "=", number: 0 }],
          success: [{ op: "put", key: LOCK, value: "b", lease: lease.id }],
        }),
      )
      if (r._tag === "Right" && r.right.succeeded) {
        out.at = yield* Clock.currentTimeMillis
        return
      }
      yield* Effect.sleep("100 millis")
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

/** Grants `held` (on the lock key) and `kept` (on another key) to client A. */
const grantLeases = (kv: KvSim.KvSim, a: KvRevClientService) =>
  kv.sim.run(
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

/**
 * The scenario of the module comment, observed until `horizonMs` after A stops renewing
 * `held` (and keeps `kept` alive until then): when each lease ended, when B got the lock.
 */
const scenario = (kv: KvSim.KvSim, skews: ReadonlyArray<ClockSkew>, horizonMs: number) =>
  Effect.gen(function* () {
    const { sim } = kv
    const group = kv.groupOf(LOCK)
    const leader = (yield* sim.waitForLeaders({ timeoutMs: 30_000 })).get(group)!
    // The first leader gets the clock furthest behind (the second of `skews`), so that the
    // first failover hands the lease to a leader whose clock is ahead: the early direction.
    const others = [1, 2, 3].filter((n) => n !== leader)
    yield* sim.skewClock(leader, skews[1]!)
    yield* sim.skewClock(others[kv.seed % 2]!, skews[0]!)
    yield* sim.skewClock(others[(kv.seed + 1) % 2]!, skews[2]!)
    const a = yield* kv.client(1)
    const b = yield* kv.client(2)
    const { held, kept } = yield* grantLeases(kv, a)
    const start = sim.now()
    const stopAt = start + 4_000
    const end = stopAt + horizonMs
    const heldWatch = expiryWatch(kv, group, held.id)
    const keptWatch = expiryWatch(kv, group, kept.id)
    const acquired: { at?: number } = {}
    const fibers = [
      yield* sim.fork(heldWatch.poll),
      yield* sim.fork(keptWatch.poll),
      yield* kv.forkClient(2, contender(b, acquired)),
    ]
    const heldAlive = yield* kv.forkClient(1, keepAlive(a, held, stopAt))
    const keptAlive = yield* kv.forkClient(1, keepAlive(a, kept, end))

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
    const keptResult = yield* sim.join(keptAlive, { timeoutMs: 30_000 })
    for (const f of fibers) yield* sim.run(Fiber.interrupt(f))
    const out = {
      leaders: [first, second, (yield* sim.leaders({ groups: [group] })).get(group)],
      lastHeld,
      heldEnded: heldWatch.endedAt(),
      acquiredAt: acquired.at,
      crashes,
      lastKept: keptResult.lastSent,
      keptRenewalRefused: keptResult.ended,
      keptEnded: keptWatch.endedAt(),
    }
    sim.note(`observed ${JSON.stringify(out)}`)
    return out
  })

/** The safety promise: neither lease ended, nor B got the lock, within TTL / (1 + ρ) of a renewal. */
const checkNeverEarly = (o: Effect.Effect.Success<ReturnType<typeof scenario>>) => {
  expect(o.heldEnded ?? Number.POSITIVE_INFINITY).toBeGreaterThanOrEqual(o.lastHeld + SURE_MS)
  expect(o.acquiredAt ?? Number.POSITIVE_INFINITY).toBeGreaterThanOrEqual(o.lastHeld + SURE_MS)
  // `kept` was renewed all along: its renewals kept landing through both failovers.
  expect(o.keptRenewalRefused).toBe(false)
  expect(o.keptEnded ?? Number.POSITIVE_INFINITY).toBeGreaterThanOrEqual(o.lastKept + SURE_MS)
}

const router = { deadlineMs: 10_000, attemptTimeoutMs: 500 }

describe("KV simulation: leases under clock drift and offsets", () => {
  for (const seed of RuntimeSim.seeds([2201, 2202, 2203])) {
    it.effect(
      `drift: a lease lives TTL / (1 + ρ) after its last renewal, and then ends (seed ${seed})`,
      () =>
        KvSim.run({ seed, shards: 1, router }, (kv) =>
          Effect.gen(function* () {
            const o = yield* scenario(kv, DRIFTS, 12_000)
            checkNeverEarly(o)
            // Not much late: a TTL on the slowest clock after the last renewal or takeover, plus
            // the time the slowest clock needs to cover the spread the drifts built since the start.
            expect(o.heldEnded).toBeDefined()
            const spread = ((MAX_DRIFT - MIN_DRIFT) * o.heldEnded!) / (1 + MIN_DRIFT)
            const from = Math.max(o.lastHeld, ...o.crashes.filter((t) => t < o.heldEnded!))
            expect(o.heldEnded!).toBeLessThanOrEqual(from + SLOW_TTL_MS + spread + EXPIRY_SLACK)
            expect(o.acquiredAt).toBeDefined()
          }),
        ),
      60_000,
    )
  }

  for (const seed of RuntimeSim.seeds([2204, 2205])) {
    it.effect(`offsets of minutes: no lease ends early, leaders minutes apart (seed ${seed})`, () =>
      KvSim.run({ seed, shards: 1, router }, (kv) =>
        Effect.gen(function* () {
          checkNeverEarly(yield* scenario(kv, OFFSETS, 8_000))
        }),
      ),
    )
  }

  it.effect("a leader's clock stepped forward by minutes ends no lease early; stepped back, late only", () =>
    KvSim.run({ seed: 2210, shards: 1, router }, (kv) =>
      Effect.gen(function* () {
        const { sim } = kv
        const group = kv.groupOf(LOCK)
        const leaders = yield* sim.waitForLeaders({ timeoutMs: 30_000 })
        const a = yield* kv.client(1)
        const { held } = yield* grantLeases(kv, a)
        const watch = expiryWatch(kv, group, held.id)
        const poll = yield* sim.fork(watch.poll)
        const alive = yield* kv.forkClient(1, keepAlive(a, held, sim.now() + 6_000))
        // Well past the takeover wait: the leader has led for more than a TTL.
        yield* sim.advance(TTL + 500)
        const leader = leaders.get(group)!
        // Regression: the timer read the wall clock, so this step ended the lease at once.
        yield* sim.skewClock(leader, { offsetMs: 600_000 })
        yield* sim.advance(1_000)
        // Corrected by 5 s: the shard clock waits for the leader's to pass it again.
        const STEP_BACK = 5_000
        yield* sim.skewClock(leader, { offsetMs: 600_000 - STEP_BACK })
        const { lastSent, ended } = yield* sim.join(alive, { timeoutMs: 30_000 })
        expect(ended).toBe(false)
        expect(watch.endedAt()).toBeUndefined()
        yield* sim.join(poll, { timeoutMs: TTL + STEP_BACK + EXPIRY_SLACK })
        const endedAt = watch.endedAt()!
        sim.note(`lease ${held.id}: last keep-alive sent at ${lastSent}, ended at ${endedAt}`)
        expect(endedAt).toBeGreaterThanOrEqual(lastSent + TTL)
        expect(endedAt).toBeLessThanOrEqual(lastSent + TTL + STEP_BACK + 1_000)
      }),
    ),
  )
})
