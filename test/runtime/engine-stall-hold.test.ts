/**
 * After a stall long enough for the peers to find this node silent, the engine holds client
 * work for a moment (docs/decisions/0130): a leader's requests wait in its mailbox and the cores
 * do not tick, so our leaders send nothing that would win back followers electing a new leader;
 * a follower's requests still fail at once, and after the hold the leader's requests go on.
 */
import { describe, expect, it } from "vitest"
import { GroupId, NodeId, replicaIdOf } from "../../src/raft/Ids.js"
import { MessageType, newMessage } from "../../src/raft/Types.js"
import type { Outbound } from "../../src/runtime/Engine.js"
import type { RuntimeError } from "../../src/runtime/RuntimeErrors.js"
import { checksumKind } from "../../src/testing/ChecksumMachine.js"
import { testEngine } from "./support/TestEngine.js"

const N1 = NodeId(1)
const R1 = replicaIdOf(N1)
const R2 = replicaIdOf(NodeId(2))
const LED = GroupId(1) // one voter, here: we lead it
const FOLLOWED = GroupId(2) // voters here and on node 2, which leads it

const engine = testEngine()

/** Runs rounds at `now`, each written at once, until none is left; the messages sent. */
const rounds = (now: number) => {
  const out: Outbound = new Map()
  for (let i = 0; i < 20; i++) {
    const round = engine.collect(out, now)
    if (round === undefined) break
    engine.completeWrite(round, now, out)
  }
  return [...out.values()].flat()
}

/** A write to `groupId`; what became of it so far. */
const write = (groupId: GroupId) => {
  const outcome: { reply?: Uint8Array; error?: RuntimeError } = {}
  engine.submit(groupId, {
    _tag: "Command",
    command: new TextEncoder().encode("wx"),
    waiter: { succeed: (reply) => (outcome.reply = reply), fail: (error) => (outcome.error = error) },
  })
  return outcome
}

describe("engine: holding client work after a stall", () => {
  it("holds a leader's requests and ticks until the hold ends, and fails a follower's at once", () => {
    engine.createReplica({
      groupId: LED,
      replicaId: R1,
      kind: checksumKind,
      bootstrap: { voters: [R1] },
    }).campaignPending = true
    engine.createReplica({
      groupId: FOLLOWED,
      replicaId: R1,
      kind: checksumKind,
      bootstrap: { voters: [R1, R2] },
    })
    rounds(0)
    // Node 2 leads group 2 (its heartbeat at term 1 makes us its follower).
    engine.ingest({
      from: NodeId(2),
      envelopes: [
        {
          groupId: FOLLOWED,
          message: newMessage({ type: MessageType.Heartbeat, from: R2, to: R1, term: 1 }),
        },
      ],
    })
    rounds(0)
    expect(engine.replicas.get(LED)!.isLeader).toBe(true)
    expect(engine.replicas.get(FOLLOWED)!.raw.leader).toBe(R2)

    engine.holdClientWork = true // what NodeLoop sets after a stall the peers may have judged
    const held = write(LED)
    const refused = write(FOLLOWED)
    const lastIndex = engine.replicas.get(LED)!.raw.lastIndex
    rounds(1_000)
    expect(refused.error?._tag).toBe("NotLeader")
    expect(held).toEqual({}) // waiting, not proposed
    expect(engine.replicas.get(LED)!.raw.lastIndex).toBe(lastIndex)
    expect(engine.replicas.get(LED)!.mailbox.length).toBe(1)

    // Ticks are skipped by the loop while holding; once the hold ends the write goes on.
    engine.holdClientWork = false
    rounds(1_300)
    expect(engine.replicas.get(LED)!.raw.lastIndex).toBe(lastIndex + 1)
    expect(held.error).toBeUndefined()
    expect(held.reply).toBeDefined()
  })
})
