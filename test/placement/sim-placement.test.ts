/**
 * The placement scenarios on a deterministic simulation of real nodes
 * (src/testing/PlacementSim.ts: every node runs `StartNode.nodeServices`, as `flotilla start`
 * does, over in-memory network, bus and disks, on virtual time). Every scenario samples the
 * quorum invariant (every group keeps a majority of voters on running nodes in every
 * configuration it applies) at each step of 250 virtual ms. Replay a failing seed with
 * `FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts test/placement/sim-placement.test.ts`.
 */

import { Effect, Option } from "effect"
import { describe, expect, it } from "vitest"
import { META_GROUP } from "../../src/meta/ClusterState.js"
import { heartbeatProof } from "../../src/node/HeartbeatProof.js"
import type { NodeId } from "../../src/raft/Ids.js"
import { nodeOfReplica } from "../../src/raft/Ids.js"
import { type PlacementSim, runSim, SimFailed, seeds } from "../../src/testing/PlacementSim.js"
import {
  balanced,
  counts,
  fullyReplicated,
  hostingMatches,
  observe,
  waitUntil,
  withinOne,
} from "../../src/testing/PlacementSimChecks.js"

const SHARDS = 30

/** Creates the keyspace and waits until every group is replicated and balanced. */
const createKeyspace = (sim: PlacementSim) =>
  Effect.gen(function* () {
    const created = yield* sim.meta({
      _tag: "CreateKeyspace",
      name: "kv",
      shards: SHARDS,
      replicationFactor: 3,
    })
    if (created._tag !== "KeyspaceCreated") return yield* Effect.fail(new SimFailed(JSON.stringify(created)))
    yield* waitUntil(sim, "the new keyspace balanced", balanced, 60_000)
  })

const expectNoViolation = (sim: PlacementSim) =>
  Effect.sync(() => expect(sim.violations, sim.violations.join("\n")).toEqual([]))

describe("placement simulation", () => {
  for (const seed of seeds([11])) {
    it(
      `3 nodes, 30 shards of R=3, then a 4th and 5th node: replicas and leaders rebalance within ±1; group 0 grows to 5 when configured (seed ${seed})`,
      () =>
        runSim({ seed, nodes: 3 }, (sim) =>
          Effect.gen(function* () {
            yield* createKeyspace(sim)
            const before = (yield* observe(sim))!
            // The metadata group grew from node 1 alone to three voters as nodes joined.
            expect(before.state.groups[0]!.replicas.filter((r) => r.role === "voter").length).toBe(3)
            yield* sim.addNode()
            yield* sim.addNode()
            yield* waitUntil(sim, "5 nodes balanced", balanced)
            const after = (yield* observe(sim))!
            const c = counts(after)
            expect([...c.replicas.values()]).toEqual([18, 18, 18, 18, 18])
            expect(withinOne(c.leaders)).toBe(true)
            expect([...c.leaders.values()].reduce((a, b) => a + b, 0)).toBe(SHARDS)
            expect(
              after.state.history.some((h) => h.spec._tag === "MoveReplica" && h.status === "succeeded"),
            ).toBe(true)
            // Configured for 5 and with 5 nodes available, the metadata group grows to 5 voters.
            expect((yield* sim.meta({ _tag: "UpdateSettings", settings: { metaTargetSize: 5 } }))._tag).toBe(
              "Done",
            )
            yield* waitUntil(sim, "a metadata group of 5 voters", (x) => {
              const voters = x.state.groups[0]!.replicas.filter((r) => r.role === "voter").length
              return voters === 5 && x.state.operators.length === 0 ? hostingMatches(x) : `${voters} voters`
            })
            yield* expectNoViolation(sim)
          }),
        ),
      180_000,
    )

    it(
      `a node down past the down timeout: its replicas are re-created elsewhere, the metadata group included (seed ${seed})`,
      () =>
        runSim({ seed, nodes: 5 }, (sim) =>
          Effect.gen(function* () {
            yield* createKeyspace(sim)
            const o = (yield* observe(sim))!
            // A voter of the metadata group that does not lead it: both kinds of group lose a replica.
            const metaVoters = o.state.groups[0]!.replicas.map((r) => nodeOfReplica(r.id))
            const leader = (yield* sim.metaLeader())!.node
            const victim = metaVoters.find((n) => n !== leader)!
            const hosted = o.state.groups.filter((g) =>
              g.replicas.some((r) => nodeOfReplica(r.id) === victim),
            )
            expect(hosted.length).toBeGreaterThan(SHARDS / 5)
            yield* sim.crash(victim)
            yield* waitUntil(sim, `node ${victim} recorded down`, (x) =>
              x.state.nodes.find((n) => n.id === victim)!.state === "down" ? undefined : "still up",
            )
            yield* waitUntil(sim, "full replication on the 4 running nodes", (x) => {
              if (x.state.operators.length > 0) return "operators in flight"
              return fullyReplicated(x) ?? hostingMatches(x)
            })
            const after = (yield* observe(sim))!
            for (const g of after.state.groups)
              expect(
                g.replicas.some((r) => nodeOfReplica(r.id) === victim),
                `group ${g.id}`,
              ).toBe(false)
            expect(after.state.groups[0]!.replicas.length).toBe(3)
            expect(
              after.state.history.filter((h) => h.spec.reason === "replace-failed").length,
            ).toBeGreaterThan(0)
            yield* waitUntil(sim, "4 nodes balanced", balanced)
            yield* expectNoViolation(sim)
          }),
        ),
      180_000,
    )

    it(
      `drain a node: every replica moves off, then the node can be removed (seed ${seed})`,
      () =>
        runSim({ seed, nodes: 5 }, (sim) =>
          Effect.gen(function* () {
            yield* createKeyspace(sim)
            const victim = 3 as NodeId
            expect((yield* sim.meta({ _tag: "SetNodeState", node: victim, state: "removed" }))._tag).toBe(
              "IllegalTransition",
            )
            expect((yield* sim.meta({ _tag: "SetNodeState", node: victim, state: "draining" }))._tag).toBe(
              "Done",
            )
            // Not removable while it hosts replicas.
            expect((yield* sim.meta({ _tag: "SetNodeState", node: victim, state: "removed" }))._tag).toBe(
              "NodeNotEmpty",
            )
            yield* waitUntil(sim, `node ${victim} drained`, (x) => {
              const left = x.state.groups.filter((g) =>
                g.replicas.some((r) => nodeOfReplica(r.id) === victim),
              )
              return left.length > 0 ? `${left.length} groups still on node ${victim}` : undefined
            })
            // Removed as soon as the record allows it: the node then drops whatever it still
            // hosts (its last maps may not have reached it yet) although it no longer heartbeats.
            expect((yield* sim.meta({ _tag: "SetNodeState", node: victim, state: "removed" }))._tag).toBe(
              "Done",
            )
            yield* sim.until(
              `node ${victim} hosting nothing`,
              Effect.map(sim.node(victim)!.groups, (g) => g.length === 0),
              { timeoutMs: 30_000 },
            )
            yield* waitUntil(sim, "4 nodes balanced after the drain", balanced)
            const o = (yield* observe(sim))!
            expect(o.up).not.toContain(victim)
            expect([...counts(o).replicas.values()].sort()).toEqual([22, 22, 23, 23])
            yield* expectNoViolation(sim)
          }),
        ),
      180_000,
    )
  }

  for (const seed of seeds([21, 22])) {
    it(
      `the metadata leader dies in the middle of a move: the move completes or rolls back, no group loses its quorum (seed ${seed})`,
      () =>
        runSim({ seed, nodes: 3 }, (sim) =>
          Effect.gen(function* () {
            yield* createKeyspace(sim)
            yield* sim.addNode()
            // Wait for a move that has added its learner (the group changed under it), then kill the leader.
            let moving: number[] = []
            yield* waitUntil(sim, "a move past its first step", (x) => {
              moving = x.state.operators
                .filter((op) => op.spec._tag === "MoveReplica" && op.step !== "")
                .map((op) => op.id)
              return moving.length > 0 ? undefined : "no move under way"
            })
            const leader = (yield* sim.metaLeader())!.node
            yield* sim.crash(leader)
            yield* waitUntil(sim, "a new metadata leader finishing the moves in flight", (x) => {
              const done = moving.filter((id) =>
                x.state.history.some(
                  (h) => h.id === id && (h.status === "succeeded" || h.status === "rolled-back"),
                ),
              )
              return done.length === moving.length
                ? undefined
                : `moves ${moving.join(",")}: ${done.length} finished`
            })
            yield* waitUntil(sim, "full replication without the dead leader", (x) =>
              x.state.operators.length > 0
                ? "operators in flight"
                : (fullyReplicated(x) ?? hostingMatches(x)),
            )
            // The old leader comes back with its data: it rejoins as itself and drops what moved away.
            yield* sim.restart(leader)
            yield* waitUntil(sim, "balanced with the old leader back", balanced)
            const o = (yield* observe(sim))!
            expect(o.up).toContain(leader)
            expect(o.state.groups.find((g) => g.id === META_GROUP)!.replicas.length).toBe(3)
            yield* expectNoViolation(sim)
          }),
        ),
      180_000,
    )
  }

  for (const seed of seeds([31])) {
    it(
      `an isolated metadata leader is deposed and stops driving; the others repair and rebalance around it, and after healing it gets its share back (seed ${seed})`,
      () =>
        runSim({ seed, nodes: 4, keepLogLines: 5_000 }, (sim) =>
          Effect.gen(function* () {
            yield* createKeyspace(sim)
            const old = (yield* sim.metaLeader())!.node
            const others = sim.upNodes().filter((n) => n !== old)
            yield* sim.isolate(old)
            const cut = sim.now()
            yield* sim.until(
              `node ${old} deposed`,
              Effect.sync(() => {
                const stopped = sim
                  .logs()
                  .some(
                    (l) =>
                      l.includes(`[n${old}] INFO placement driver: stopped`) &&
                      Number(l.slice(2, l.indexOf(" "))) >= cut,
                  )
                return stopped
              }),
              { timeoutMs: 30_000 },
            )
            const g0 = Option.getOrUndefined(yield* sim.node(old)!.status(META_GROUP))
            expect(g0?.isLeader).toBe(false)
            yield* waitUntil(sim, "full replication without the isolated node", (x) => {
              if (x.up.includes(old)) return `node ${old} still counted up`
              if (x.state.operators.length > 0) return "operators in flight"
              return (
                fullyReplicated(x) ?? hostingMatches({ ...x, up: x.up.filter((n) => others.includes(n)) })
              )
            })
            yield* sim.heal
            yield* waitUntil(sim, "balanced with the node back", (x) =>
              x.up.includes(old) ? balanced(x) : `node ${old} not back up`,
            )
            yield* expectNoViolation(sim)
          }),
        ),
      180_000,
    )
  }

  it(
    "a node removed while cut off drops every replica it still hosts when it comes back",
    () =>
      runSim({ seed: 41, nodes: 4 }, (sim) =>
        Effect.gen(function* () {
          yield* createKeyspace(sim)
          const victim = 4 as NodeId
          const hosted = (yield* sim.node(victim)!.groups).length
          expect(hosted).toBeGreaterThan(0)
          yield* sim.isolate(victim)
          yield* waitUntil(sim, `node ${victim}'s replicas replaced`, (x) => {
            if (x.state.operators.length > 0) return "operators in flight"
            const left = x.state.groups.filter((g) => g.replicas.some((r) => nodeOfReplica(r.id) === victim))
            return left.length > 0 ? `${left.length} groups still on node ${victim}` : fullyReplicated(x)
          })
          expect((yield* sim.meta({ _tag: "SetNodeState", node: victim, state: "removed" }))._tag).toBe(
            "Done",
          )
          // It still hosts its old replicas: nobody could tell it they moved.
          expect((yield* sim.node(victim)!.groups).length).toBe(hosted)
          yield* sim.heal
          yield* sim.until(
            `node ${victim} hosting nothing`,
            Effect.map(sim.node(victim)!.groups, (g) => g.length === 0),
            { timeoutMs: 30_000 },
          )
          yield* waitUntil(sim, "3 nodes balanced", balanced)
          yield* expectNoViolation(sim)
        }),
      ),
    120_000,
  )

  it("replays: the same seed gives the same operator history", async () => {
    const history = (seed: number) =>
      runSim({ seed, nodes: 3 }, (sim) =>
        Effect.gen(function* () {
          const created = yield* sim.meta({
            _tag: "CreateKeyspace",
            name: "kv",
            shards: 8,
            replicationFactor: 3,
          })
          expect(created._tag).toBe("KeyspaceCreated")
          yield* sim.addNode()
          yield* waitUntil(sim, "balanced", balanced)
          const o = (yield* observe(sim))!
          return o.state.history.map(
            (h) => `${h.startedAt}-${h.updatedAt} ${JSON.stringify(h.spec)} ${h.status}`,
          )
        }),
      )
    const a = await history(5)
    const b = await history(5)
    expect(a.length).toBeGreaterThan(0)
    expect(b).toEqual(a)
  }, 180_000)
})

describe("the meta endpoint of a running cluster", () => {
  it(
    "answers bad requests with an error and changes nothing",
    () =>
      runSim({ seed: 3, nodes: 2 }, (sim) =>
        Effect.gen(function* () {
          const before = (yield* observe(sim))!.state
          const enc = new TextEncoder()
          const answer = (v: unknown) =>
            Effect.map(sim.rawMeta(enc.encode(typeof v === "string" ? v : JSON.stringify(v))), (b) =>
              JSON.parse(new TextDecoder().decode(b)),
            )
          expect(yield* answer("{not json")).toEqual({ _tag: "MalformedRequest", message: "not JSON" })
          expect((yield* answer({ _tag: "Nope" }))._tag).toBe("MalformedRequest")
          expect((yield* answer({ _tag: "CreateKeyspace", name: "Bad Name", shards: 2 }))._tag).toBe(
            "InvalidArgument",
          )
          expect(
            (yield* answer({ _tag: "CreateKeyspace", name: "kv", shards: 2, replicationFactor: 3 }))._tag,
          ).toBe("NotEnoughNodes")
          expect((yield* answer({ _tag: "SetNodeState", node: 9, state: "draining" }))._tag).toBe(
            "UnknownNode",
          )
          expect((yield* answer({ _tag: "UpdateSettings", settings: { downTimeoutMs: 1 } }))._tag).toBe(
            "InvalidArgument",
          )
          const load = { node: 2, at: 0, replicas: [] }
          expect(
            yield* answer({
              _tag: "Heartbeat",
              node: 2,
              proof: heartbeatProof("token-1", 2, 0, undefined),
              load,
            }),
          ).toEqual({
            _tag: "WrongToken",
            node: 2,
          })
          expect(
            (yield* answer({ _tag: "Heartbeat", node: 7, proof: "", load: { ...load, node: 7 } }))._tag,
          ).toBe("UnknownNode")
          expect(
            (yield* answer({
              _tag: "StartOperator",
              spec: { _tag: "AddReplica", group: 0, node: 2, reason: "drain" },
              at: 1,
            }))._tag,
          ).toBe("MalformedRequest")
          expect(yield* answer({ _tag: "RegisterNode", token: "token-2" })).toEqual({
            _tag: "NodeRegistered",
            node: 2,
            rejoined: true,
          })
          const after = (yield* observe(sim))!.state
          expect(after.keyspaces).toEqual(before.keyspaces)
          expect(after.settings).toEqual(before.settings)
          expect(after.nodes.map((n) => [n.id, n.state, n.token])).toEqual(
            before.nodes.map((n) => [n.id, n.state, n.token]),
          )
          expect(after.nextNodeId).toBe(before.nextNodeId)
        }),
      ),
    60_000,
  )
})

describe("the KV gateway of a simulated cluster", () => {
  it(
    "every simulated node runs the production services, the KV gateway included: puts and gets through it, bad requests refused",
    () =>
      runSim({ seed: 7, nodes: 3 }, (sim) =>
        Effect.gen(function* () {
          const created = yield* sim.meta({
            _tag: "CreateKeyspace",
            name: "kv",
            shards: 4,
            replicationFactor: 3,
          })
          expect(created._tag).toBe("KeyspaceCreated")
          yield* waitUntil(sim, "the keyspace balanced", balanced, 60_000)
          expect(yield* sim.kv({ op: "put", key: "a", value: "1" })).toMatchObject({ ok: true })
          expect(yield* sim.kv({ op: "get", key: "a" })).toMatchObject({ ok: true, value: "1" })
          expect(yield* sim.kv({ op: "get", key: "b" })).toMatchObject({ ok: true, value: null })
          expect(yield* sim.kv({ op: "put", key: "a", vaule: "2" })).toMatchObject({
            ok: false,
            error: "BadRequest",
          })
        }),
      ),
    60_000,
  )
})
