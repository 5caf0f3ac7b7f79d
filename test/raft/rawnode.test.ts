/**
 * The Ready/advance contract of `RawNode` (see its header): which messages may go at once and
 * which must wait for persistence, when a leader counts its own log, mustSync, misuse of
 * ready()/advance(), bootstrap refusals, restarts.
 */
import { describe, expect, it } from "vitest"
import { RawNode } from "../../src/raft/RawNode.js"
import { MemoryStorage } from "../../src/raft/Storage.js"
import { type Message, MessageType, type ReplicaId, StateType } from "../../src/raft/Types.js"
import { Cluster } from "./support/Cluster.js"

const bytes = (s: string) => new TextEncoder().encode(s)
const types = (ms: readonly Message[]) => ms.map((m) => m.type)

describe("RawNode Ready contract", () => {
  it("a candidate's votes wait for persistence; so do a pre-candidate's", () => {
    for (const preVote of [false, true]) {
      const c = new Cluster({ preVote })
      c.bootstrap([1, 2, 3])
      const n = c.node(1).raw
      n.campaign()
      const rd = n.ready()
      expect(rd.messages).toEqual([])
      const want = preVote ? MessageType.PreVote : MessageType.Vote
      expect(types(rd.persistedMessages)).toEqual([want, want])
      // A vote for ourselves is a new term and vote: synced (a pre-vote changes neither).
      expect(rd.mustSync).toBe(!preVote)
      n.advance(rd)
    }
  })

  it("a follower's MsgAppResp waits for persistence; a leader's MsgApp goes at once", () => {
    const c = new Cluster()
    c.bootstrap([1, 2, 3])
    c.elect(1)
    const leader = c.node(1).raw
    expect(leader.propose(bytes("a"))._tag).toBe("Proposed")
    const rd = leader.ready()
    expect(types(rd.messages)).toEqual([MessageType.App, MessageType.App])
    expect(rd.persistedMessages).toEqual([])
    expect(rd.entries.map((e) => e.index)).toEqual([rd.messages[0]!.entries[0]!.index])
    expect(rd.mustSync).toBe(true)
    c.send(rd.messages)
    c.persist(1, rd)
    leader.advance(rd)

    c.deliver(2)
    const frd = c.node(2).raw.ready()
    expect(frd.messages).toEqual([])
    expect(types(frd.persistedMessages)).toEqual([MessageType.AppResp])
    expect(frd.entries.length).toBe(1)
    c.node(2).raw.advance(frd)
  })

  it("a leader counts its own log only after it advanced the Ready that persisted it", () => {
    const c = new Cluster()
    c.bootstrap([1, 2, 3])
    c.elect(1)
    const leader = c.node(1).raw
    const before = leader.status().hardState.commit
    leader.propose(bytes("x"))
    const rd = leader.ready()
    c.send(rd.messages)
    // Only replica 2 answers; the quorum is {1, 2}, but 1 has not persisted its entry yet.
    c.inbox.set(3 as ReplicaId, [])
    c.deliver(2)
    c.processReady(2)
    c.deliver(1)
    expect(leader.status().hardState.commit).toBe(before)
    c.persist(1, rd)
    leader.advance(rd)
    expect(leader.status().hardState.commit).toBe(before + 1)
    const next = leader.ready()
    expect(next.hardState?.commit).toBe(before + 1)
    // Only the commit index changed: no sync needed.
    expect(next.mustSync).toBe(false)
    expect(next.committedEntries.map((e) => e.index)).toEqual([before + 1])
    leader.advance(next)
  })

  it("two followers alone can commit a leader's entry (the leader writes in parallel)", () => {
    const c = new Cluster()
    c.bootstrap([1, 2, 3])
    c.elect(1)
    const leader = c.node(1).raw
    const before = leader.status().hardState.commit
    leader.propose(bytes("y"))
    const rd = leader.ready()
    c.send(rd.messages)
    c.deliver(2)
    c.deliver(3)
    c.processReady(2)
    c.processReady(3)
    c.deliver(1)
    expect(leader.status().hardState.commit).toBe(before + 1)
    c.persist(1, rd)
    leader.advance(rd)
  })

  it("numbers Readies; they may be pipelined but must be advanced in order, each once", () => {
    const c = new Cluster()
    c.bootstrap([1, 2, 3])
    c.elect(1)
    const n = c.node(1).raw
    n.propose(bytes("a"))
    const rd1 = n.ready()
    n.propose(bytes("b"))
    const rd2 = n.ready()
    expect(rd2.number).toBe(rd1.number + 1)
    // Each carries only what is new.
    expect(rd1.entries.map((e) => new TextDecoder().decode(e.data))).toEqual(["a"])
    expect(rd2.entries.map((e) => new TextDecoder().decode(e.data))).toEqual(["b"])
    expect(n.readiesInFlight).toBe(2)
    expect(() => n.advance(rd2)).toThrow(/out of order/)
    c.persist(1, rd1)
    n.advance(rd1)
    expect(() => n.advance(rd1)).toThrow(/out of order/)
    c.persist(1, rd2)
    n.advance(rd2)
    expect(n.readiesInFlight).toBe(0)
  })

  it("with pipelined Readies a leader counts each write only once it is advanced", () => {
    const c = new Cluster()
    c.bootstrap([1, 2, 3])
    c.elect(1)
    const leader = c.node(1).raw
    const before = leader.status().hardState.commit
    leader.propose(bytes("p1"))
    const rd1 = leader.ready()
    leader.propose(bytes("p2"))
    const rd2 = leader.ready()
    c.send(rd1.messages)
    c.send(rd2.messages)
    c.inbox.set(3 as ReplicaId, [])
    c.deliver(2)
    c.processReady(2)
    c.deliver(1)
    // Replica 2 holds both; the leader has written neither: nothing commits.
    expect(leader.status().hardState.commit).toBe(before)
    c.persist(1, rd1)
    leader.advance(rd1)
    expect(leader.status().hardState.commit).toBe(before + 1)
    c.persist(1, rd2)
    leader.advance(rd2)
    expect(leader.status().hardState.commit).toBe(before + 2)
    c.stabilize()
    expect(c.appliedText(2)).toEqual(["p1", "p2"])
  })

  it("may be ticked, stepped and given proposals between ready() and advance()", () => {
    const c = new Cluster()
    c.bootstrap([1, 2, 3])
    c.elect(1)
    const leader = c.node(1).raw
    leader.propose(bytes("p1"))
    const rd = leader.ready()
    leader.propose(bytes("p2"))
    leader.tick()
    c.deliver(1)
    c.send(rd.messages)
    c.persist(1, rd)
    leader.advance(rd)
    c.stabilize()
    expect(c.appliedText(1)).toEqual(["p1", "p2"])
    expect(c.appliedText(2)).toEqual(["p1", "p2"])
  })

  it("reports soft state changes once, and nothing when nothing changed", () => {
    const c = new Cluster()
    c.bootstrap([1, 2, 3])
    const n = c.node(1).raw
    expect(n.hasReady()).toBe(false)
    c.elect(1)
    expect(n.hasReady()).toBe(false)
    n.propose(bytes("z"))
    const rd = n.ready()
    expect(rd.softState).toBeUndefined()
    n.advance(rd)
  })

  it("committed entries may be in the same Ready as their own persistence (persist first)", () => {
    const c = new Cluster()
    c.bootstrap([1])
    c.elect(1)
    const n = c.node(1).raw
    n.propose(bytes("solo"))
    const rd = n.ready()
    expect(rd.entries.length).toBe(1)
    // Single voter: it counts itself only once persisted, so the commit comes next Ready.
    c.persist(1, rd)
    n.advance(rd)
    const rd2 = n.ready()
    expect(rd2.committedEntries.map((e) => new TextDecoder().decode(e.data))).toEqual(["solo"])
    n.advance(rd2)
  })

  it("a single voter answers a read once its term has a committed entry", () => {
    const c = new Cluster()
    c.bootstrap([1])
    c.elect(1)
    const n = c.node(1).raw
    expect(n.readIndex(bytes("r1"))).toBeUndefined()
    const rd = n.ready()
    expect(rd.readStates).toEqual([{ index: n.status().hardState.commit, requestCtx: bytes("r1") }])
    n.advance(rd)
  })

  it("a new leader holds reads until it has committed an entry of its term", () => {
    const c = new Cluster()
    c.bootstrap([1, 2, 3])
    const n = c.node(1).raw
    n.campaign()
    // Win the election without committing the leader's empty entry yet.
    for (let i = 0; i < 6 && !n.isLeader; i++) {
      c.processReady(1)
      c.deliver(2)
      c.deliver(3)
      c.processReady(2)
      c.processReady(3)
      c.deliver(1)
    }
    expect(n.isLeader).toBe(true)
    const commitTerm = n.internals.log.term(n.status().hardState.commit)
    expect(commitTerm).toBeLessThan(n.term)
    n.readIndex(bytes("early"))
    c.processReady(1)
    expect(n.internals.pendingReadIndexMessages.length).toBe(1)
    c.stabilize()
    // Released and answered once the empty entry committed.
    expect(n.internals.pendingReadIndexMessages.length).toBe(0)
  })

  it("drops proposals beyond maxUncommittedEntriesSize until entries commit", () => {
    const c = new Cluster({ maxUncommittedEntriesSize: 10 })
    c.bootstrap([1, 2, 3])
    c.elect(1)
    const n = c.node(1).raw
    expect(n.propose(bytes("12345678"))._tag).toBe("Proposed")
    expect(n.propose(bytes("abcdef"))).toMatchObject({
      _tag: "ProposalDropped",
      reason: "UncommittedSizeLimit",
    })
    c.stabilize()
    expect(n.propose(bytes("abcdef"))._tag).toBe("Proposed")
  })

  it("bootstrap is refused on storage that is not empty, and for bad member lists", () => {
    const c = new Cluster()
    c.bootstrap([1, 2, 3])
    const storage = c.node(1).storage
    const r = RawNode.bootstrap({ id: 1 as ReplicaId, storage }, { voters: [1, 2, 3] as ReplicaId[] })
    expect(r).toMatchObject({ _tag: "InvalidConfChange" })
    const fresh = () => new MemoryStorage()
    expect(RawNode.bootstrap({ id: 1 as ReplicaId, storage: fresh() }, { voters: [] })).toMatchObject({
      _tag: "InvalidConfChange",
    })
    expect(
      RawNode.bootstrap({ id: 1 as ReplicaId, storage: fresh() }, { voters: [1, 1] as ReplicaId[] }),
    ).toMatchObject({ _tag: "InvalidConfChange" })
    expect(
      RawNode.bootstrap({ id: 1 as ReplicaId, storage: fresh() }, { voters: [1, 0] as ReplicaId[] }),
    ).toMatchObject({ _tag: "InvalidConfChange" })
    expect(
      RawNode.bootstrap(
        { id: 1 as ReplicaId, storage: fresh() },
        { voters: [1] as ReplicaId[], learners: [1] as ReplicaId[] },
      ),
    ).toMatchObject({ _tag: "InvalidConfChange" })
    // A hard state alone also makes storage non-empty.
    const s = fresh()
    s.setHardState({ term: 3, vote: 0 as ReplicaId, commit: 0 })
    expect(
      RawNode.bootstrap({ id: 1 as ReplicaId, storage: s }, { voters: [1] as ReplicaId[] }),
    ).toMatchObject({
      _tag: "InvalidConfChange",
    })
  })

  it("invalid configurations throw RangeError at creation (a bug, not input)", () => {
    const storage = new MemoryStorage()
    expect(() => RawNode.create({ id: 0 as ReplicaId, storage })).toThrow(RangeError)
    expect(() => RawNode.create({ id: 1 as ReplicaId, storage, electionTick: 2, heartbeatTick: 2 })).toThrow(
      RangeError,
    )
    expect(() =>
      RawNode.create({ id: 1 as ReplicaId, storage, readOnlyOption: "lease", checkQuorum: false }),
    ).toThrow(RangeError)
    expect(() => RawNode.create({ id: 1 as ReplicaId, storage, maxInflightMsgs: 0 })).toThrow(RangeError)
  })

  it("restarts with its persisted term, vote and log, as a follower; re-applying restores the configuration", () => {
    const c = new Cluster()
    c.bootstrap([1, 2, 3])
    c.elect(2)
    c.node(2).raw.propose(bytes("kept"))
    c.stabilize()
    const st = c.node(2).raw.status()
    c.restart(2)
    const after = c.node(2).raw.status()
    expect(after.hardState).toEqual(st.hardState)
    expect(after.lastIndex).toBe(st.lastIndex)
    expect(after.softState.raftState).toBe(StateType.Follower)
    // Without `applied`, the committed entries (conf changes too) are handed out again; the
    // configuration is rebuilt as they are applied, and until then the replica cannot campaign.
    expect(c.node(2).raw.describeConfig()).toBe("voters=()")
    for (let i = 0; i < 30; i++) c.node(2).raw.tick()
    expect(c.node(2).raw.internals.state).toBe(StateType.Follower)
    const rd = c.node(2).raw.ready()
    expect(rd.committedEntries.some((e) => new TextDecoder().decode(e.data) === "kept")).toBe(true)
    c.node(2).raw.advance(rd)
    expect(c.node(2).raw.describeConfig()).toBe("voters=(1 2 3)")
  })

  it("restarting with `applied` skips entries already applied", () => {
    const c = new Cluster()
    c.bootstrap([1, 2, 3])
    c.elect(1)
    c.node(1).raw.propose(bytes("once"))
    c.stabilize()
    const applied = c.node(3).raw.status().applied
    c.restart(3, { applied })
    expect(c.node(3).raw.hasReady()).toBe(false)
    expect(() => c.restart(3, { applied: applied + 10 })).toThrow(RangeError)
  })

  it("storage whose hard state contradicts its log is refused at creation", () => {
    const s = new MemoryStorage()
    s.setHardState({ term: 1, vote: 0 as ReplicaId, commit: 5 })
    expect(() => RawNode.create({ id: 1 as ReplicaId, storage: s })).toThrow(RangeError)
  })
})
