/**
 * Property tests over random fault schedules. fast-check generates a schedule — timed events:
 * partitions, heal, isolation, crash and restart, unreliable and reliable network, leadership
 * transfer, snapshot policy, adding and removing a learner — and the simulator runs it with
 * closed-loop clients. Throughout the run the simulator checks election safety, log matching,
 * leader completeness and state machine safety after every step; at the end the faults stop
 * and the property asserts eventual progress (a new write commits, every member converges) and
 * that the client history is linearizable.
 *
 * A failure prints fast-check's seed and shrunk schedule (a handful of events), plus the
 * simulator's seed and the schedule in readable form. Replay with FLOTILLA_FC_SEED=<seed>.
 */
import fc from "fast-check"
import { describe, it } from "vitest"
import { ConfChangeType, confChange } from "../../src/raft/ConfChange.js"
import type { ReplicaId } from "../../src/raft/Types.js"
import { Simulator } from "../../src/testing/Simulator.js"
import { bytes } from "./support/sim.js"

const ELECTION = 2_000
const LEARNER = 9

type Event =
  | { readonly kind: "partition"; readonly sides: readonly number[] }
  | { readonly kind: "heal" }
  | { readonly kind: "isolate"; readonly node: number }
  | { readonly kind: "crash"; readonly node: number }
  | { readonly kind: "restart"; readonly node: number }
  | { readonly kind: "unreliable" }
  | { readonly kind: "reliable" }
  | { readonly kind: "transfer"; readonly node: number }
  | { readonly kind: "snapshots"; readonly every: number; readonly keep: number }
  | { readonly kind: "addLearner" }
  | { readonly kind: "removeLearner" }

interface Timed {
  /** Virtual time since the previous event. */
  readonly after: number
  readonly event: Event
}

interface Scenario {
  readonly simSeed: number
  readonly voters: number
  readonly pipeline: number
  readonly schedule: readonly Timed[]
}

const eventArb = (voters: number): fc.Arbitrary<Event> => {
  const node = fc.integer({ min: 1, max: voters })
  return fc.oneof(
    fc.record({
      kind: fc.constant("partition" as const),
      sides: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: voters, maxLength: voters }),
    }),
    fc.constant({ kind: "heal" as const }),
    fc.record({ kind: fc.constant("isolate" as const), node }),
    fc.record({ kind: fc.constant("crash" as const), node }),
    fc.record({ kind: fc.constant("restart" as const), node }),
    fc.constant({ kind: "unreliable" as const }),
    fc.constant({ kind: "reliable" as const }),
    fc.record({ kind: fc.constant("transfer" as const), node }),
    fc.record({
      kind: fc.constant("snapshots" as const),
      every: fc.constantFrom(0, 5, 20),
      keep: fc.integer({ min: 0, max: 5 }),
    }),
    fc.constant({ kind: "addLearner" as const }),
    fc.constant({ kind: "removeLearner" as const }),
  )
}

const scenarioArb = (voters: number): fc.Arbitrary<Scenario> =>
  fc.record({
    simSeed: fc.integer({ min: 1, max: 1_000_000 }),
    voters: fc.constant(voters),
    pipeline: fc.constantFrom(1, 3),
    schedule: fc.array(fc.record({ after: fc.integer({ min: 0, max: 3_000 }), event: eventArb(voters) }), {
      maxLength: 14,
    }),
  })

const describeEvent = (e: Event): string => {
  switch (e.kind) {
    case "partition":
      return `partition ${JSON.stringify(e.sides.map((s, i) => `${i + 1}:${s}`))}`
    case "snapshots":
      return `snapshots every=${e.every} keep=${e.keep}`
    case "isolate":
    case "crash":
    case "restart":
    case "transfer":
      return `${e.kind} ${e.node}`
    default:
      return e.kind
  }
}

const describeScenario = (s: Scenario): string =>
  [
    `simulator seed ${s.simSeed}, ${s.voters} voters, ${s.pipeline} Readies in flight`,
    ...s.schedule.map((t) => `  +${t.after} ${describeEvent(t.event)}`),
  ].join("\n")

const apply = (sim: Simulator, e: Event, voters: readonly number[]): void => {
  switch (e.kind) {
    case "partition": {
      const groups: number[][] = [[], [], []]
      e.sides.forEach((side, i) => {
        groups[side]!.push(voters[i]!)
      })
      sim.network.partition(groups.filter((g) => g.length > 0))
      return
    }
    case "heal":
      sim.network.heal()
      return
    case "isolate":
      sim.network.isolate(e.node)
      return
    case "crash":
      sim.crash(e.node)
      return
    case "restart":
      sim.restart(e.node)
      return
    case "unreliable":
      sim.setReliable(false)
      return
    case "reliable":
      sim.setReliable(true)
      return
    case "transfer":
      sim.transferLeader(e.node)
      return
    case "snapshots":
      sim.setSnapshotPolicy(e.every, e.keep)
      return
    case "addLearner":
      sim.proposeConfChange(confChange([{ type: ConfChangeType.AddLearner, nodeId: LEARNER as ReplicaId }]))
      return
    case "removeLearner":
      sim.proposeConfChange(confChange([{ type: ConfChangeType.RemoveNode, nodeId: LEARNER as ReplicaId }]))
      return
  }
}

/** Runs one scenario; throws (with the simulator seed and the schedule) when a property fails. */
const runScenario = (s: Scenario): void => {
  const voters = Array.from({ length: s.voters }, (_, i) => i + 1)
  try {
    Simulator.run(
      { seed: s.simSeed, voters, maxReadiesInFlight: s.pipeline, raft: { maxSnapshotChunkBytes: 64 } },
      (sim) => {
        sim.addReplica(LEARNER)
        sim.startClients({ clients: 3, keys: 3 })
        for (const t of s.schedule) {
          sim.runFor(t.after)
          apply(sim, t.event, voters)
        }
        // The faults stop. Everyone is back, the network heals: the group must make progress.
        sim.network.heal()
        sim.setReliable(true)
        sim.restartAll()
        sim.runFor(ELECTION)
        sim.stopClients()
        sim.agree(bytes(`progress-${s.simSeed}`), Math.floor(s.voters / 2) + 1, { limit: 30_000 })
        sim.runFor(4_000) // outstanding operations finish or time out
        sim.waitForConvergence(30_000)
        sim.checkLinearizable()
        const pending = sim.opCounts().pending
        if (pending > 0) throw new Error(`${pending} client operations never finished`)
      },
    )
  } catch (e) {
    throw new Error(`${(e as Error).message}\nschedule:\n${describeScenario(s)}`)
  }
}

const fcSeed = Number(process.env.FLOTILLA_FC_SEED ?? 20_251_125)
const numRuns = Number(process.env.FLOTILLA_FC_RUNS ?? 60)

describe("properties over random fault schedules", () => {
  it("five voters: safety after every step, linearizable clients, progress after healing", () => {
    fc.assert(
      fc.property(scenarioArb(5), (s) => runScenario(s)),
      { numRuns, seed: fcSeed },
    )
  })

  it("three voters: the same, where any two failures cost the quorum", () => {
    fc.assert(
      fc.property(scenarioArb(3), (s) => runScenario(s)),
      { numRuns, seed: fcSeed + 1 },
    )
  })
})
