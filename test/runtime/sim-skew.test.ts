/**
 * Clock skew and drift per node (SimClock.ts, `sim.skewClock`): each node reads its own view of
 * the virtual time base, offset and drifting, and its sleeps (ticks, liveness, leader tasks,
 * timeouts) last `1 / (1 + drift)` as long. Clients and the test stay on base time.
 *
 * - the clock itself: readings, jumps, sleeps, refused skews;
 * - the runtime simulation's checksum workload stays linearizable with one node 30% fast and
 *   another 20% slow, minutes apart, through a crash of a leader and drift changes mid-run;
 * - the nodes' fibers really run on their clocks (a fast node's engine steps more rounds);
 * - KV transactions stay linearizable when the shard clock jumps minutes ahead at failovers
 *   (leaders minutes apart) and so expires every client session (a short session TTL).
 *
 * The KV lease promise under skew is in sim-skew-lease.test.ts. Replay with FLOTILLA_SEED=<seed>.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Runtime } from "effect"
import { revModel } from "../../src/testing/KvRevModel.js"
import * as KvSim from "../../src/testing/KvSim.js"
import * as KvSimFaults from "../../src/testing/KvSimFaults.js"
import { RevHistory, runClient } from "../../src/testing/KvSimWorkload.js"
import { checkLinearizable, describeHistory } from "../../src/testing/Linearizability.js"
import * as RuntimeSim from "../../src/testing/RuntimeSim.js"
import { VirtualTime } from "../../src/testing/RuntimeSimTime.js"
import { SkewedClock } from "../../src/testing/SimClock.js"

/** The base instants at which fibers sleeping `sleeps` ms on `clock` wake. */
const wakeInstants = async (time: VirtualTime, clock: SkewedClock, sleeps: ReadonlyArray<number>) => {
  const woke: number[] = []
  for (const ms of sleeps)
    time.fork(
      Runtime.defaultRuntime,
      Effect.withClock(
        Effect.zipRight(
          Effect.sleep(`${ms} millis`),
          Effect.sync(() => void woke.push(time.now())),
        ),
        clock,
      ),
    )
  await time.advance(10_000)
  return woke
}

describe("SimClock: a node's view of the virtual time base", () => {
  it("reads the base exactly without skew, offset and drifting with it", () => {
    const time = new VirtualTime(0)
    const clock = new SkewedClock(time.clock)
    time.clock.fireUntil(1_000)
    expect(clock.unsafeCurrentTimeMillis()).toBe(1_000)
    clock.set({ offsetMs: 120_000 })
    expect(clock.unsafeCurrentTimeMillis()).toBe(121_000)
    clock.set({ drift: 0.3 })
    time.clock.fireUntil(2_000)
    expect(clock.unsafeCurrentTimeMillis()).toBe(121_000 + 1_300)
    // A drift change keeps the reading continuous; an offset change jumps it.
    clock.set({ drift: -0.2 })
    expect(clock.unsafeCurrentTimeMillis()).toBe(122_300)
    time.clock.fireUntil(3_000)
    expect(clock.unsafeCurrentTimeMillis()).toBe(122_300 + 800)
    clock.set({ offsetMs: 60_000 })
    expect(clock.unsafeCurrentTimeMillis()).toBe(123_100 - 60_000)
    expect(clock.skew).toEqual({ offsetMs: 60_000, drift: -0.2 })
    // The monotonic reading drifts the same way and never jumps: 1_000 + 1_300 + 800.
    expect(clock.unsafeCurrentTimeNanos()).toBe(3_100_000_000n)
  })

  it("refuses a drift at or below -1 and a reading before 0", () => {
    const time = new VirtualTime(0)
    const clock = new SkewedClock(time.clock)
    expect(() => clock.set({ drift: -1 })).toThrow(RangeError)
    expect(() => clock.set({ drift: Number.NaN })).toThrow(RangeError)
    time.clock.fireUntil(500)
    expect(() => clock.set({ offsetMs: -501 })).toThrow(RangeError)
    clock.set({ offsetMs: -500 })
    expect(clock.unsafeCurrentTimeMillis()).toBe(0)
  })

  it("sleeps last 1 / (1 + drift) as long in base time, in whole base milliseconds", async () => {
    const time = new VirtualTime(0)
    const fast = new SkewedClock(time.clock)
    fast.set({ drift: 0.3 })
    expect(await wakeInstants(time, fast, [130, 50, 0])).toEqual([0, 39, 100])
    const slow = new SkewedClock(time.clock)
    slow.set({ drift: -0.2, offsetMs: 5_000 })
    const start = time.now()
    expect((await wakeInstants(time, slow, [80, 400])).map((t) => t - start)).toEqual([100, 500])
  })

  it("an offset jump backwards moves no sleep earlier or later", async () => {
    const time = new VirtualTime(0)
    const clock = new SkewedClock(time.clock)
    clock.set({ offsetMs: 60_000 })
    const woke: number[] = []
    time.fork(
      Runtime.defaultRuntime,
      Effect.withClock(
        Effect.gen(function* () {
          const before = yield* Clock.currentTimeMillis
          yield* Effect.sleep("200 millis")
          woke.push(time.now(), (yield* Clock.currentTimeMillis) - before)
        }),
        clock,
      ),
    )
    await time.advance(100)
    clock.set({ offsetMs: 0 })
    await time.advance(1_000)
    expect(woke).toEqual([200, 200 - 60_000])
  })
})

/** 3 nodes: node 1 30% fast and 3 minutes ahead, node 2 20% slow, node 3 a minute ahead. */
const skewAll = (sim: RuntimeSim.RuntimeSim) =>
  Effect.all([
    sim.skewClock(1, { offsetMs: 180_000, drift: 0.3 }),
    sim.skewClock(2, { drift: -0.2 }),
    sim.skewClock(3, { offsetMs: 60_000 }),
  ])

describe("runtime simulation: nodes with skewed and drifting clocks", () => {
  it.effect("a node's fibers run on its clock: the fast node steps more rounds than the slow one", () =>
    RuntimeSim.run({ seed: 71, nodes: 3, groups: 4, settings: { quiesceAfterTicks: 100_000 } }, (sim) =>
      Effect.gen(function* () {
        yield* skewAll(sim)
        yield* sim.waitForLeaders({ timeoutMs: 30_000 })
        const rounds = () => Effect.all([1, 2].map((n) => Effect.map(sim.stats(n), (s) => s.rounds)))
        const ratio = Effect.gen(function* () {
          const [fast0, slow0] = yield* rounds()
          yield* sim.advance(4_000)
          const [fast1, slow1] = yield* rounds()
          return (fast1! - fast0!) / (slow1! - slow0!)
        })
        // Ticks set the pace of an idle node's rounds: 1.3 / 0.8 of the base rate.
        expect(yield* ratio).toBeGreaterThan(1.4)
        // Restarted, a node keeps its clock.
        yield* sim.crash(1)
        yield* sim.restart(1)
        yield* sim.waitForLeaders({ timeoutMs: 30_000 })
        expect(yield* ratio).toBeGreaterThan(1.4)
      }),
    ),
  )

  for (const seed of RuntimeSim.seeds([72, 73, 74])) {
    it.effect(
      `the workload stays linearizable through a leader crash and drift changes (seed ${seed})`,
      () =>
        RuntimeSim.run(
          {
            seed,
            nodes: 3,
            groups: 12,
            faults: { drop: 0.02, delay: { min: 1, max: 8 }, reorder: 0.05 },
            settings: { snapshotEntries: 40, keepEntries: 10 },
          },
          (sim) =>
            Effect.gen(function* () {
              const all = sim.groupIds.map(Number)
              yield* skewAll(sim)
              const leaders = yield* sim.waitForLeaders({ timeoutMs: 30_000 })
              yield* sim.workload({ groups: all, writes: 150, readEvery: 4, prefix: "a" })
              const writes = yield* sim.fork(
                sim.client.workload({ groups: all, writes: 300, readEvery: 5, pauseMs: 10, prefix: "b" }),
              )
              yield* sim.advance(200)
              const { victim } = RuntimeSim.busiestLeader(leaders)
              sim.note(`crash node ${victim}`)
              yield* sim.crash(victim)
              // The drifts swap while the cluster fails over: the slow node now runs fast.
              yield* sim.skewClock(2, { drift: 0.25, offsetMs: 240_000 })
              yield* sim.skewClock(1, { drift: -0.15 })
              yield* sim.advance(1_500)
              yield* sim.restart(victim)
              yield* sim.join(writes, { timeoutMs: 120_000 })
              yield* sim.workload({ groups: all, writes: 100, readEvery: 3, prefix: "c" })
              yield* sim.verify({ groups: all, timeoutMs: 60_000 })
            }),
        ),
      60_000,
    )
  }
})

describe("KV simulation: shard leaders minutes apart", () => {
  for (const seed of RuntimeSim.seeds([75, 76])) {
    it.effect(
      `transactions stay linearizable while failovers jump the shard clock past the session TTL (seed ${seed})`,
      () =>
        KvSim.run(
          {
            seed,
            shards: 2,
            // Sessions idle for a minute of shard clock expire: every jump ahead expires them all.
            kv: { sessions: { ttlMs: 60_000 } },
            router: { deadlineMs: 8_000, attemptTimeoutMs: 1_000 },
          },
          (kv) =>
            Effect.gen(function* () {
              const { sim } = kv
              // The first shard's leader has the clock furthest behind: its failover jumps ahead.
              const first = (yield* sim.waitForLeaders({ timeoutMs: 30_000 })).get(kv.shardGroups[0]!)!
              const [ahead, furthest] = [1, 2, 3].filter((n) => n !== first)
              yield* sim.skewClock(ahead!, { offsetMs: 180_000, drift: 0.2 })
              yield* sim.skewClock(furthest!, { offsetMs: 360_000, drift: -0.1 })
              const tags = KvSim.tagPerGroup(kv)
              const history = new RevHistory()
              const fibers = []
              for (let i = 1; i <= 3; i++) {
                const c = yield* kv.client(i)
                fibers.push(
                  yield* kv.forkClient(
                    i,
                    runClient(history, c, { client: i, seed, tags, ops: 50, pauseMs: 100 }),
                  ),
                )
              }
              // The first shard fails over to a clock minutes ahead; then a seeded schedule.
              yield* sim.advance(1_000)
              sim.note(`crash node ${first}`)
              yield* sim.crash(first)
              yield* sim.advance(1_500)
              yield* sim.restart(first)
              yield* KvSimFaults.play(kv, { steps: 4, kinds: ["crashLeader", "isolateLeader"] })
              yield* KvSimFaults.settle(kv)
              for (const f of fibers) yield* sim.join(f, { timeoutMs: 300_000 })
              const result = checkLinearizable(revModel, history.ops)
              if (result.ok === false)
                expect.fail(`not linearizable (${result.reason}):\n${describeHistory(result.part)}`)
              expect(history.ops.filter((o) => o.output !== undefined).length).toBeGreaterThan(
                history.ops.length / 2,
              )
              // The jumps did expire sessions: the path under test ran.
              let expired = 0
              for (let i = 1; i <= 3; i++)
                expired += (yield* (yield* kv.client(i)).router.stats).sessionsExpired
              sim.note(`sessions expired: ${expired}`)
              expect(expired).toBeGreaterThan(0)
              yield* kv.converged({ timeoutMs: 60_000 })
            }),
        ),
      60_000,
    )
  }
})
