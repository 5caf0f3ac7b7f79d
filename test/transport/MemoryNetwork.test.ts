import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, TestClock } from "effect"
import type { NodeId } from "../../src/raft/Ids.js"
import * as MemoryNetwork from "../../src/transport/MemoryNetwork.js"
import type { TransportService } from "../../src/transport/Transport.js"
import * as Transport from "../../src/transport/Transport.js"
import { hb } from "./helpers.js"

const N1 = 1 as NodeId
const N2 = 2 as NodeId
const N3 = 3 as NodeId
const N4 = 4 as NodeId

/** A network and one memory transport per node, under the test's clock (TestClock in it.scoped). */
const cluster = (
  seed: number,
  nodes: ReadonlyArray<NodeId> = [N1, N2, N3],
  options: MemoryNetwork.MemoryNetworkOptions = {},
) =>
  Effect.gen(function* () {
    const network = yield* MemoryNetwork.make({ seed, ...options })
    const transports = new Map<NodeId, TransportService>()
    for (const node of nodes) {
      const context = yield* Layer.build(Transport.layerMemory(network, node))
      transports.set(node, Context.get(context, Transport.Transport))
    }
    const t = (node: NodeId) => transports.get(node)!
    /** Sends `n` frames from → to, frame i holding one heartbeat with commit = first + i. */
    const sendSeq = (from: NodeId, to: NodeId, n: number, first = 0) =>
      Effect.forEach(
        Array.from({ length: n }, (_, i) => first + i),
        (i) => t(from).send(to, [hb(from, to, 1, i)]),
        {
          discard: true,
        },
      )
    /** Everything `node` holds now, as "from:commit". */
    const received = (node: NodeId) =>
      Effect.map(t(node).takeAll, (batches) =>
        batches.flatMap((b) => b.envelopes.map((e) => `${b.from}:${e.message.commit}`)),
      )
    return { network, t, sendSeq, received }
  })

const commits = (xs: ReadonlyArray<string>) => xs.map((x) => Number(x.split(":")[1]))
const range = (n: number) => Array.from({ length: n }, (_, i) => i)

describe("MemoryNetwork faults", () => {
  const dropRun = (seed: number) =>
    Effect.gen(function* () {
      const c = yield* cluster(seed)
      yield* c.network.setFaults({ drop: 0.3 }, { from: N1, to: N2 })
      yield* c.sendSeq(N1, N2, 200)
      yield* c.sendSeq(N2, N1, 20)
      const stats = yield* c.network.stats(N1, N2)
      return { got: yield* c.received(N2), back: yield* c.received(N1), stats }
    })

  it.scoped("drop loses a seeded share of frames on that link only, the same frames for the same seed", () =>
    Effect.gen(function* () {
      const a = yield* dropRun(5)
      expect(a.got.length).toBeGreaterThan(100)
      expect(a.got.length).toBeLessThan(180)
      expect(a.stats).toMatchObject({ published: 200, dropped: 200 - a.got.length, delivered: a.got.length })
      expect(commits(a.back)).toEqual(range(20))
      expect(commits(a.got)).toEqual([...commits(a.got)].sort((x, y) => x - y))
      expect((yield* dropRun(5)).got).toEqual(a.got)
      expect((yield* dropRun(6)).got).not.toEqual(a.got)
    }),
  )

  it.scoped("duplicate delivers frames twice", () =>
    Effect.gen(function* () {
      const c = yield* cluster(1)
      yield* c.network.setFaults({ duplicate: 1 })
      yield* c.sendSeq(N1, N2, 3)
      expect(commits(yield* c.received(N2))).toEqual([0, 0, 1, 1, 2, 2])
      yield* c.network.setFaults({ duplicate: 0.5 })
      yield* c.sendSeq(N1, N2, 100, 100)
      const got = commits(yield* c.received(N2))
      expect(new Set(got)).toEqual(new Set(range(100).map((i) => i + 100)))
      const stats = yield* c.network.stats(N1, N2)
      expect(got.length).toBe(100 + stats.duplicated - 3)
      expect(stats.duplicated).toBeGreaterThan(3 + 20)
    }),
  )

  it.scoped("delay holds frames on the Effect clock and keeps each link in FIFO order", () =>
    Effect.gen(function* () {
      const c = yield* cluster(1)
      yield* c.network.setFaults({ delay: "50 millis" }, { from: N1, to: N2 })
      yield* c.sendSeq(N1, N2, 3)
      expect(yield* c.received(N2)).toEqual([])
      yield* TestClock.adjust("49 millis")
      expect(yield* c.received(N2)).toEqual([])
      expect(yield* c.network.inFlight).toBe(3)
      yield* TestClock.adjust("1 millis")
      expect(commits(yield* c.received(N2))).toEqual([0, 1, 2])

      yield* c.network.setFaults({ delay: { min: "10 millis", max: "100 millis" } }, { from: N1, to: N2 })
      yield* c.sendSeq(N1, N2, 50)
      yield* TestClock.adjust("9 millis")
      expect(yield* c.received(N2)).toEqual([])
      yield* TestClock.adjust("91 millis")
      expect(commits(yield* c.received(N2))).toEqual(range(50))
    }),
  )

  const reorderRun = (seed: number) =>
    Effect.gen(function* () {
      const c = yield* cluster(seed)
      yield* c.network.setFaults({ reorder: 0.5, reorderWindow: "20 millis" })
      yield* c.sendSeq(N1, N2, 100)
      const early = commits(yield* c.received(N2))
      yield* TestClock.adjust("20 millis")
      return [...early, ...commits(yield* c.received(N2))]
    })

  it.scoped("reorder lets later frames overtake, deterministically", () =>
    Effect.gen(function* () {
      const got = yield* reorderRun(3)
      expect([...got].sort((x, y) => x - y)).toEqual(range(100))
      expect(got).not.toEqual(range(100))
      expect(yield* reorderRun(3)).toEqual(got)
      expect(yield* reorderRun(4)).not.toEqual(got)
    }),
  )

  it.scoped("switches faults at run time, per link or for every link", () =>
    Effect.gen(function* () {
      const c = yield* cluster(1)
      yield* c.network.setFaults({ drop: 1 })
      yield* c.sendSeq(N1, N2, 5)
      yield* c.network.setFaults({ drop: 0 }, { from: N3, to: N2 })
      yield* c.sendSeq(N3, N2, 2)
      expect(yield* c.received(N2)).toEqual(["3:0", "3:1"])
      expect((yield* c.network.faults(N1, N2)).drop).toBe(1)
      yield* c.network.clearFaults
      yield* c.sendSeq(N1, N2, 2, 7)
      expect(yield* c.received(N2)).toEqual(["1:7", "1:8"])
      expect(yield* c.network.faults(N3, N2)).toEqual(MemoryNetwork.NO_FAULTS)
    }),
  )

  it.scoped("refuses invalid fault settings as defects", () =>
    Effect.gen(function* () {
      const c = yield* cluster(1)
      expect(Exit.isFailure(yield* Effect.exit(c.network.setFaults({ drop: 1.5 })))).toBe(true)
      const bad = yield* Effect.exit(c.network.setFaults({ delay: { min: "2 millis", max: "1 millis" } }))
      expect(Exit.isFailure(bad)).toBe(true)
    }),
  )
})

describe("MemoryNetwork cuts", () => {
  it.scoped("partition and heal at run time; a node always reaches itself", () =>
    Effect.gen(function* () {
      const c = yield* cluster(1)
      yield* c.network.partition([N1], [N2, N3])
      yield* c.sendSeq(N1, N2, 1)
      yield* c.sendSeq(N2, N1, 1)
      yield* c.sendSeq(N2, N3, 1)
      yield* c.sendSeq(N1, N1, 1, 9)
      expect(yield* c.received(N2)).toEqual([])
      expect(yield* c.received(N1)).toEqual(["1:9"])
      expect(yield* c.received(N3)).toEqual(["2:0"])
      expect((yield* c.network.stats(N1, N2)).cut).toBe(1)
      expect(yield* c.network.canReach(N1, N2)).toBe(false)
      yield* c.network.heal
      expect(yield* c.network.canReach(N1, N2)).toBe(true)
      yield* c.sendSeq(N1, N2, 1, 5)
      expect(yield* c.received(N2)).toEqual(["1:5"])
    }),
  )

  it.scoped("nodes named in no group form one more group", () =>
    Effect.gen(function* () {
      const c = yield* cluster(1, [N1, N2, N3, N4])
      yield* c.network.partition([N1, N2])
      expect(yield* c.network.canReach(N3, N4)).toBe(true)
      expect(yield* c.network.canReach(N1, N2)).toBe(true)
      expect(yield* c.network.canReach(N3, N1)).toBe(false)
    }),
  )

  it.scoped("frames in flight are lost when a partition begins", () =>
    Effect.gen(function* () {
      const c = yield* cluster(1)
      yield* c.network.setFaults({ delay: "10 millis" })
      yield* c.sendSeq(N1, N2, 2)
      yield* c.network.partition([N1], [N2])
      yield* TestClock.adjust("10 millis")
      expect(yield* c.received(N2)).toEqual([])
      expect(yield* c.network.stats(N1, N2)).toMatchObject({ published: 2, cut: 2, delivered: 0 })
    }),
  )

  it.scoped("isolate cuts a node both ways; block cuts one direction", () =>
    Effect.gen(function* () {
      const c = yield* cluster(1)
      yield* c.network.isolate(N3)
      yield* c.sendSeq(N3, N1, 1)
      yield* c.sendSeq(N1, N3, 1)
      yield* c.sendSeq(N1, N2, 1)
      expect(yield* c.received(N1)).toEqual([])
      expect(yield* c.received(N3)).toEqual([])
      expect(yield* c.received(N2)).toEqual(["1:0"])
      yield* c.network.heal
      yield* c.network.block(N1, N2)
      yield* c.sendSeq(N1, N2, 1)
      yield* c.sendSeq(N2, N1, 1, 4)
      expect(yield* c.received(N2)).toEqual([])
      expect(yield* c.received(N1)).toEqual(["2:4"])
    }),
  )
})

describe("MemoryNetwork determinism", () => {
  const chaos = (seed: number) =>
    Effect.gen(function* () {
      const c = yield* cluster(seed)
      yield* c.network.setFaults({
        drop: 0.2,
        duplicate: 0.2,
        delay: { min: "0 millis", max: "30 millis" },
        reorder: 0.3,
      })
      const log: string[] = []
      for (let round = 0; round < 20; round++) {
        for (const from of [N1, N2, N3])
          for (const to of [N1, N2, N3]) if (from !== to) yield* c.sendSeq(from, to, 1, round)
        if (round === 8) yield* c.network.partition([N1], [N2, N3])
        if (round === 14) yield* c.network.heal
        yield* TestClock.adjust("7 millis")
        for (const node of [N1, N2, N3]) log.push(...(yield* c.received(node)).map((x) => `${node}<${x}`))
      }
      yield* TestClock.adjust("1 second")
      for (const node of [N1, N2, N3]) log.push(...(yield* c.received(node)).map((x) => `${node}<${x}`))
      return { log, totals: yield* c.network.totals }
    })

  it.scoped("same seed, same sends: same delivery sequence with every fault at once", () =>
    Effect.gen(function* () {
      const a = yield* chaos(11)
      expect(a.totals.dropped).toBeGreaterThan(0)
      expect(a.totals.duplicated).toBeGreaterThan(0)
      expect(a.totals.cut).toBeGreaterThan(0)
      expect(a.log.length).toBe(a.totals.delivered)
      expect(yield* chaos(11)).toEqual(a)
      expect((yield* chaos(12)).log).not.toEqual(a.log)
    }),
  )

  it.scoped("refuses payloads above its max_payload, like NATS", () =>
    Effect.gen(function* () {
      const c = yield* cluster(1, [N1, N2], { maxPayload: 4_096 })
      expect(yield* c.network.publish(N1, N2, "raft", new Uint8Array(4_097))).toBe(false)
      expect(yield* c.network.inject(N2, "raft", new Uint8Array(4_097))).toBe(false)
      expect((yield* c.network.stats(N1, N2, "raft")).refused).toBe(1)
    }),
  )

  it.scoped("counts frames for a node nobody attached as undeliverable", () =>
    Effect.gen(function* () {
      const c = yield* cluster(1, [N1])
      yield* c.sendSeq(N1, N4, 2)
      expect(yield* c.network.stats(N1, N4, "raft")).toMatchObject({
        published: 2,
        undeliverable: 2,
        delivered: 0,
      })
      expect((yield* c.network.totals).undeliverable).toBe(2)
    }),
  )

  it.scoped("attaching a node twice is a defect", () =>
    Effect.gen(function* () {
      const c = yield* cluster(1, [N1])
      const again = yield* Effect.exit(Layer.build(Transport.layerMemory(c.network, N1)))
      expect(Exit.isFailure(again)).toBe(true)
    }),
  )
})
