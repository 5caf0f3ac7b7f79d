/**
 * Issue 12 G: the nemesis in the test suite. Three `flotilla start` nodes over their own
 * nats-server (ProcessCluster), eight clients through the KV gateway, and for at least 60 s
 * faults from a seeded schedule: kill -9 and restart, SIGSTOP/SIGCONT, nats-server restart and
 * kill -9 of the node leading the most groups (src/testing/Nemesis.ts). The history must be
 * linearizable, no acknowledged write lost, no node may log a dead loop or exit unbidden.
 *
 * Replay a failure: `FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts
 * test/nemesis/Nemesis.test.ts`, or the longer `npm run nemesis -- --seed <seed> --seconds 600`.
 */
import { describe, expect, it } from "vitest"
import { runNemesis } from "../../src/testing/Nemesis.js"
import { FAULT_KINDS } from "../../src/testing/NemesisSchedule.js"
import { seeds } from "../../src/testing/RuntimeSimSeed.js"

describe("the nemesis against real processes", () => {
  for (const seed of seeds([20261207])) {
    it(`seed ${seed}: 3 nodes, every fault kind, 60 s: linearizable, nothing lost, no dead loop`, async () => {
      const { summary, details } = await runNemesis({ seed, nodes: 3, seconds: 60 })
      console.log(JSON.stringify(summary))
      const report = `${JSON.stringify(summary)}\n${details.join("\n")}\nreplay: FLOTILLA_SEED=${seed} npx vitest run --config test/vitest.config.ts test/nemesis/Nemesis.test.ts`
      expect(new Set(summary.faults.map((f) => f.kind)), report).toEqual(new Set(FAULT_KINDS))
      expect(summary.ops.ok, report).toBeGreaterThan(100)
      expect(summary.verdict, report).toBe("linearizable")
      expect(summary.acknowledgedWritesLost, report).toBe(0)
      expect(summary.unreadKeys, report).toBe(0)
      expect(summary.deadLoops, report).toEqual([])
      expect(summary.unexpectedExits, report).toEqual([])
      expect(summary.passed, report).toBe(true)
    }, 600_000)
  }
})
