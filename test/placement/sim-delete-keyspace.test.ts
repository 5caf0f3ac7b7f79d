/**
 * Deleting a keyspace on a simulated managed cluster (src/testing/PlacementSim.ts: real nodes,
 * in-memory disks, virtual time): every node hosting a replica of its groups stops it and
 * wipes its data, a node that was down during the deletion does so when it comes back, the
 * other keyspace is untouched, clients get "no keyspace" once none is left, and the name can
 * be used again.
 * Replay a failing seed with `FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts
 * test/placement/sim-delete-keyspace.test.ts`.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { type PlacementSim, runSim, SimFailed, seeds } from "../../src/testing/PlacementSim.js"
import { balanced, hostingMatches, waitUntil } from "../../src/testing/PlacementSimChecks.js"

const create = (sim: PlacementSim, name: string, shards: number) =>
  Effect.gen(function* () {
    const r = yield* sim.meta({ _tag: "CreateKeyspace", name, shards, replicationFactor: 3 })
    if (r._tag !== "KeyspaceCreated") return yield* Effect.fail(new SimFailed(JSON.stringify(r)))
    return r.groups as ReadonlyArray<number>
  })

/** Which of `groups` node `n` still runs or still has data of. */
const leftOn = (sim: PlacementSim, n: number, groups: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    const running = ((yield* sim.statuses()).get(n as never) ?? []).map((g) => g.groupId as number)
    const stored = sim.storedGroups(n).map((g) => g as number)
    return groups.filter((g) => running.includes(g) || stored.includes(g))
  })

describe("keyspace deletion (simulation)", () => {
  for (const seed of seeds([5])) {
    it(
      `replicas of a deleted keyspace are stopped and wiped on every node, a down one included (seed ${seed})`,
      () =>
        runSim({ seed, nodes: 3 }, (sim) =>
          Effect.gen(function* () {
            const doomed = yield* create(sim, "kv", 4)
            const kept = yield* create(sim, "other", 2)
            yield* waitUntil(sim, "both keyspaces placed", balanced, 60_000)
            expect(yield* sim.kv({ op: "put", key: "a", value: "1" })).toMatchObject({ ok: true })
            for (const n of [1, 2, 3]) expect(yield* leftOn(sim, n, doomed)).toEqual(doomed)

            // Node 3 is down while the keyspace is deleted.
            yield* sim.crash(3)
            const deleted = yield* sim.meta({ _tag: "DeleteKeyspace", name: "kv" })
            expect(deleted).toEqual({ _tag: "KeyspaceDeleted", name: "kv", groups: doomed })
            yield* sim.until(
              "nodes 1 and 2 dropped the deleted groups",
              Effect.map(
                Effect.all([leftOn(sim, 1, doomed), leftOn(sim, 2, doomed)]),
                ([a, b]) => a.length === 0 && b.length === 0,
              ),
              { timeoutMs: 30_000 },
            )
            // Still on node 3's disk until it comes back and sees the map.
            expect(sim.storedGroups(3).filter((g) => doomed.includes(g))).toEqual(doomed)
            yield* sim.restart(3)
            yield* sim.until(
              "node 3 dropped the deleted groups",
              Effect.map(leftOn(sim, 3, doomed), (left) => left.length === 0),
              { timeoutMs: 30_000 },
            )
            yield* waitUntil(sim, "the other keyspace intact", hostingMatches, 60_000)
            for (const n of [1, 2, 3]) expect(sim.storedGroups(n)).toEqual(expect.arrayContaining([...kept]))

            // With no keyspace of the KV kind left (the gateway routes by kind, and "other" was
            // the other one), clients are told it does not exist.
            expect(yield* sim.meta({ _tag: "DeleteKeyspace", name: "other" })).toMatchObject({
              _tag: "KeyspaceDeleted",
            })
            const gone = yield* sim.kv({ op: "get", key: "a", timeoutMs: 1_500 })
            expect(gone).toMatchObject({ ok: false })
            expect(String(gone.message)).toMatch(/no keyspace "kv"/)

            // The name is free again: new groups, empty.
            const again = yield* create(sim, "kv", 2)
            expect(Math.min(...again)).toBeGreaterThan(Math.max(...doomed, ...kept))
            yield* waitUntil(sim, "the new keyspace placed", balanced, 60_000)
            expect(yield* sim.kv({ op: "get", key: "a" })).toMatchObject({ ok: true, value: null })
            expect(yield* sim.kv({ op: "put", key: "a", value: "2" })).toMatchObject({ ok: true })
            expect(sim.violations).toEqual([])
          }),
        ),
      300_000,
    )
  }
})
