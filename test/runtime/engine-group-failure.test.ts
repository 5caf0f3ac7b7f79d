/**
 * Supervision inside the engine (docs/decisions/0070): a throw while one group handles a message,
 * ticks or collects its round stops THAT group, with the reason, and no other; the engine goes
 * on. The throws are injected into one replica's Raft core, as a bug there would throw.
 */
import { describe, expect, it } from "vitest"
import { GroupId, NodeId, replicaIdOf } from "../../src/raft/Ids.js"
import type { RawNode } from "../../src/raft/RawNode.js"
import { type Message, MessageType, newMessage } from "../../src/raft/Types.js"
import type { Engine, Outbound } from "../../src/runtime/Engine.js"
import { checksumKind } from "../../src/testing/ChecksumMachine.js"
import { testEngine } from "./support/TestEngine.js"

const N1 = NodeId(1)
const R1 = replicaIdOf(N1)
const R2 = replicaIdOf(NodeId(2))

const engineWith = (groups: number[]) => {
  const engine = testEngine()
  for (const g of groups)
    engine.createReplica({
      groupId: GroupId(g),
      replicaId: R1,
      kind: checksumKind,
      bootstrap: { voters: [R1, R2] },
    })
  return engine
}

/** Makes one method of a replica's core throw, as a bug in it would. */
const breakCore = (engine: Engine, group: number, method: "step" | "tick" | "ready", error: Error) => {
  const raw = engine.replicas.get(GroupId(group))!.raw as RawNode & Record<string, unknown>
  raw[method] = () => {
    throw error
  }
}

const heartbeat = (group: number): { groupId: GroupId; message: Message } => ({
  groupId: GroupId(group),
  message: newMessage({ type: MessageType.Heartbeat, from: R2, to: R1, term: 1 }),
})

const stoppedOf = (engine: Engine) =>
  [...engine.replicas.values()].filter((r) => r.stopped !== undefined).map((r) => [r.groupId, r.stopped])

describe("engine: a failure in one group stays in that group", () => {
  it("a throw while a group handles a message stops that group with the reason; the others go on", () => {
    const engine = engineWith([1, 2, 3])
    breakCore(engine, 2, "step", new TypeError("core bug"))
    engine.ingest({ from: NodeId(2), envelopes: [heartbeat(1), heartbeat(2), heartbeat(3)] })
    expect(stoppedOf(engine)).toEqual([[2, `handling a message from ${R2} failed: TypeError: core bug`]])
    expect(engine.stopped.splice(0)).toEqual([
      { groupId: 2, reason: `handling a message from ${R2} failed: TypeError: core bug` },
    ])
    // The others took their message (they follow the leader now) and go on with their rounds.
    for (const g of [1, 3]) expect(engine.replicas.get(GroupId(g))!.raw.leader).toBe(R2)
    const out: Outbound = new Map()
    const round = engine.collect(out, 0)
    expect(round?.updates.map((u) => u.groupId).sort()).toEqual([1, 3])
  })

  it("a throw in a tick or in collecting a round stops that group only", () => {
    const engine = engineWith([1, 2, 3])
    breakCore(engine, 1, "tick", new RangeError("tick bug"))
    breakCore(engine, 3, "ready", new RangeError("ready bug"))
    engine.tick()
    const round = engine.collect(new Map(), 0)
    expect(stoppedOf(engine)).toEqual([
      [1, "a tick failed: RangeError: tick bug"],
      [3, "collecting its round failed: RangeError: ready bug"],
    ])
    expect(round?.updates.map((u) => u.groupId)).toEqual([2])
  })
})
