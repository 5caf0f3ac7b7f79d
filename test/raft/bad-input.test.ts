/**
 * Bad input to the core gets a typed result, never a crash or a corrupted log:
 *
 * - random and mutated messages (misrouted, unknown or local types, negative / NaN / fractional
 *   fields, entries with gaps or decreasing terms, snapshot chunks past their size, missing
 *   contexts, responses from non-members, fields of the wrong type) fed to every role;
 * - proposals on replicas that do not lead;
 * - malformed conf changes;
 * - a committed conf change that cannot be applied, skipped alike by every replica.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  confChange,
  decodeConfChange,
  encodeConfChange,
  leaveJoint,
} from "../../src/raft/ConfChange.js"
import {
  CAMPAIGN_TRANSFER,
  type Entry,
  EntryType,
  emptyConfState,
  type Message,
  MessageType,
  newMessage,
  type ReplicaId,
  StateType,
} from "../../src/raft/Types.js"
import { Cluster } from "./support/Cluster.js"

const bytes = (s: string) => new TextEncoder().encode(s)

type Role = "leader" | "follower" | "candidate" | "precandidate" | "learner"
const ROLES: Role[] = ["leader", "follower", "candidate", "precandidate", "learner"]

/**
 * A 3-voter group with a learner (4), leader 1, some committed history, and the replica that
 * plays `role` (3 is made a (pre-)candidate; its campaign messages are left undelivered).
 */
const setup = (role: Role) => {
  const c = new Cluster({ preVote: role === "precandidate" })
  c.bootstrap([1, 2, 3], [4])
  c.elect(1)
  for (const s of ["a", "b", "c"]) c.node(1).raw.propose(bytes(s))
  c.stabilize()
  const id = { leader: 1, follower: 2, candidate: 3, precandidate: 3, learner: 4 }[role]
  if (role === "candidate" || role === "precandidate") {
    c.node(3).raw.campaign()
    c.processReady(3)
    c.inbox.clear()
  }
  const want = {
    leader: StateType.Leader,
    follower: StateType.Follower,
    candidate: StateType.Candidate,
    precandidate: StateType.PreCandidate,
    learner: StateType.Follower,
  }[role]
  expect(c.node(id).raw.internals.state).toBe(want)
  return { c, id }
}

/** What a refused message must not change. */
const fingerprint = (c: Cluster, id: number) => {
  const raw = c.node(id).raw
  const st = raw.status()
  return {
    hardState: st.hardState,
    softState: st.softState,
    lastIndex: st.lastIndex,
    log: raw.internals.log.allEntries().map((e) => `${e.index}/${e.term}/${e.type}/${e.data.length}`),
    config: raw.describeConfig(),
  }
}

/** A plausible message of each network type for replica `to` in term `term`. */
const baseMessage = (type: number, to: number, from: number, term: number, last: number): Message => {
  const entries: Entry[] =
    type === MessageType.App ? [{ term, index: last + 1, type: EntryType.Normal, data: bytes("x") }] : []
  return newMessage({
    type: type as MessageType,
    to: to as ReplicaId,
    from: from as ReplicaId,
    term,
    logTerm: term,
    index: last,
    commit: Math.max(0, last - 1),
    entries,
    snapshot:
      type === MessageType.Snap
        ? {
            metadata: {
              index: last + 5,
              term,
              confState: { ...emptyConfState, voters: [1, 2, 3] as ReplicaId[] },
            },
            offset: 0,
            totalBytes: 4,
            data: new Uint8Array([1, 2, 3, 4]),
          }
        : undefined,
    context:
      type === MessageType.ReadIndex ||
      type === MessageType.ReadIndexResp ||
      type === MessageType.HeartbeatResp
        ? bytes("ctx")
        : undefined,
  })
}

const weird = fc.constantFrom<unknown>(
  -1,
  -0.5,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  2 ** 60,
  "7",
  null,
  undefined,
  {},
)

/** One way to damage a message; `undefined` leaves it as it is. */
type Mutation = (m: Message, rand: (n: number) => number) => Message

const mutations: Record<string, Mutation> = {
  none: (m) => m,
  wrongTo: (m, r) => ({ ...m, to: (m.to + 1 + r(5)) as ReplicaId }),
  unknownType: (m, r) => ({ ...m, type: (20 + r(100)) as MessageType }),
  localType: (m, r) =>
    ({
      ...m,
      type: [
        MessageType.Hup,
        MessageType.Beat,
        MessageType.Unreachable,
        MessageType.SnapStatus,
        MessageType.CheckQuorum,
      ][r(5)],
    }) as Message,
  nonMemberFrom: (m, r) => ({ ...m, from: (10 + r(5)) as ReplicaId }),
  zeroFrom: (m) => ({ ...m, from: 0 as ReplicaId }),
  zeroTerm: (m) => ({ ...m, term: 0 }),
  higherTerm: (m, r) => ({ ...m, term: m.term + 1 + r(3) }),
  lowerTerm: (m) => ({ ...m, term: Math.max(1, m.term - 1) }),
  rejectFlip: (m) => ({ ...m, reject: !m.reject, rejectHint: m.index, hintTerm: m.logTerm }),
  entryGap: (m) => ({
    ...m,
    entries: [
      { term: m.term, index: m.index + 1, type: EntryType.Normal, data: bytes("g1") },
      { term: m.term, index: m.index + 3, type: EntryType.Normal, data: bytes("g2") },
    ],
  }),
  decreasingTerms: (m) => ({
    ...m,
    logTerm: Math.max(0, m.term - 1),
    entries: [
      { term: m.term, index: m.index + 1, type: EntryType.Normal, data: bytes("d1") },
      { term: Math.max(0, m.term - 1), index: m.index + 2, type: EntryType.Normal, data: bytes("d2") },
    ],
  }),
  entryTermAboveMessage: (m) => ({
    ...m,
    entries: [{ term: m.term + 1, index: m.index + 1, type: EntryType.Normal, data: bytes("f") }],
  }),
  entryBadType: (m) => ({
    ...m,
    entries: [{ term: m.term, index: m.index + 1, type: 7 as EntryType, data: bytes("t") }],
  }),
  entryNoData: (m) => ({
    ...m,
    entries: [{ term: m.term, index: m.index + 1, type: EntryType.Normal } as unknown as Entry],
  }),
  entryNull: (m) => ({ ...m, entries: [null as unknown as Entry] }),
  entriesNotArray: (m) => ({ ...m, entries: "abc" as unknown as Entry[] }),
  entriesOnNonApp: (m) => ({
    ...m,
    type: MessageType.Heartbeat,
    entries: [{ term: m.term, index: m.index + 1, type: EntryType.Normal, data: bytes("h") }],
  }),
  garbageConfChangeEntry: (m) => ({
    ...m,
    type: MessageType.App,
    entries: [
      { term: m.term, index: m.index + 1, type: EntryType.ConfChange, data: new Uint8Array([9, 9, 9]) },
    ],
  }),
  snapPastTotal: (m) => ({
    ...m,
    type: MessageType.Snap,
    entries: [],
    snapshot: {
      metadata: { index: m.index + 5, term: m.term, confState: emptyConfState },
      offset: 2,
      totalBytes: 3,
      data: new Uint8Array([1, 2, 3]),
    },
  }),
  snapMissing: (m) => ({ ...m, type: MessageType.Snap, entries: [], snapshot: undefined }),
  snapNoMetadata: (m) => ({
    ...m,
    type: MessageType.Snap,
    entries: [],
    snapshot: { offset: 0, totalBytes: 1, data: new Uint8Array([1]) } as unknown as Message["snapshot"],
  }),
  snapNoConfState: (m) => ({
    ...m,
    type: MessageType.Snap,
    entries: [],
    snapshot: {
      metadata: { index: m.index + 5, term: m.term },
      offset: 0,
      totalBytes: 1,
      data: new Uint8Array([1]),
    } as unknown as Message["snapshot"],
  }),
  snapInconsistentConfState: (m) => ({
    ...m,
    type: MessageType.Snap,
    entries: [],
    snapshot: {
      metadata: {
        index: m.index + 5,
        term: m.term,
        confState: { ...emptyConfState, voters: [1, 2] as ReplicaId[], learners: [2] as ReplicaId[] },
      },
      offset: 0,
      totalBytes: 1,
      data: new Uint8Array([1]),
    },
  }),
  snapTermAboveMessage: (m) => ({
    ...m,
    type: MessageType.Snap,
    entries: [],
    snapshot: {
      metadata: { index: m.index + 5, term: m.term + 1, confState: emptyConfState },
      offset: 0,
      totalBytes: 1,
      data: new Uint8Array([1]),
    },
  }),
  readIndexNoContext: (m) => ({
    ...m,
    type: MessageType.ReadIndex,
    term: 0,
    entries: [],
    context: undefined,
  }),
  readIndexRespNoContext: (m) => ({
    ...m,
    type: MessageType.ReadIndexResp,
    entries: [],
    context: new Uint8Array(0),
  }),
  nullContext: (m) => ({ ...m, context: null as unknown as Uint8Array }),
  stringContext: (m) => ({ ...m, context: "T" as unknown as Uint8Array }),
  transferContext: (m) => ({ ...m, type: MessageType.Vote, entries: [], context: CAMPAIGN_TRANSFER }),
}

const numericFields = [
  "term",
  "logTerm",
  "index",
  "commit",
  "rejectHint",
  "hintTerm",
  "to",
  "from",
  "type",
] as const

describe("bad input", () => {
  it("random and mutated messages to every role are refused with InvalidMessage or handled; never a throw or a corrupted log", () => {
    const message = fc.record({
      type: fc.constantFrom(
        MessageType.App,
        MessageType.AppResp,
        MessageType.Vote,
        MessageType.VoteResp,
        MessageType.PreVote,
        MessageType.PreVoteResp,
        MessageType.Snap,
        MessageType.SnapResp,
        MessageType.Heartbeat,
        MessageType.HeartbeatResp,
        MessageType.TransferLeader,
        MessageType.TimeoutNow,
        MessageType.ReadIndex,
        MessageType.ReadIndexResp,
      ),
      from: fc.integer({ min: 1, max: 4 }),
      termDelta: fc.integer({ min: -1, max: 2 }),
      indexDelta: fc.integer({ min: -4, max: 3 }),
      mutation: fc.constantFrom(...Object.keys(mutations)),
      field: fc.option(fc.record({ name: fc.constantFrom(...numericFields), value: weird }), { freq: 4 }),
      seed: fc.nat(),
    })
    fc.assert(
      fc.property(
        fc.constantFrom(...ROLES),
        fc.array(message, { minLength: 1, maxLength: 8 }),
        (role, msgs) => {
          const { c, id } = setup(role)
          const node = c.node(id)
          for (const g of msgs) {
            const raw = node.raw
            const st = raw.status()
            let s = g.seed
            const rand = (n: number) => {
              s = (s * 1103515245 + 12345) >>> 0
              return s % n
            }
            let m = baseMessage(
              g.type,
              id,
              g.from === id ? (id % 4) + 1 : g.from,
              Math.max(1, st.hardState.term + g.termDelta),
              Math.max(0, st.lastIndex + g.indexDelta),
            )
            m = mutations[g.mutation]!(m, rand)
            if (g.field) m = { ...m, [g.field.name]: g.field.value } as Message
            const before = fingerprint(c, id)
            const committed = raw.internals.log.allEntries().filter((e) => e.index <= st.hardState.commit)
            const r = raw.step(m)
            if (r !== undefined) {
              expect(r._tag).toBe("InvalidMessage")
              expect(typeof r.reason).toBe("string")
              expect(fingerprint(c, id)).toEqual(before)
            } else {
              // Accepted: the committed prefix and the commit index never go back, terms never fall.
              const after = raw.status()
              expect(after.hardState.commit).toBeGreaterThanOrEqual(st.hardState.commit)
              expect(after.hardState.term).toBeGreaterThanOrEqual(st.hardState.term)
              const now = raw.internals.log.allEntries()
              for (const e of committed) {
                const same = now.find((x) => x.index === e.index)
                if (same) expect(same.term).toBe(e.term)
              }
            }
            // Whatever happened, the Ready cycle still works.
            c.processReady(id)
            c.inbox.clear()
          }
        },
      ),
      { numRuns: 600 },
    )
  })

  it("each damaged field alone is refused (not silently accepted) on a follower", () => {
    const { c } = setup("follower")
    const raw = c.node(2).raw
    const st = raw.status()
    const base = baseMessage(MessageType.App, 2, 1, st.hardState.term, st.lastIndex)
    const refused: [string, Message][] = [
      ["misrouted", { ...base, to: 3 as ReplicaId }],
      ["unknown type", { ...base, type: 99 as MessageType }],
      ["local type", { ...base, type: MessageType.Hup }],
      ["negative term", { ...base, term: -1 }],
      ["NaN index", { ...base, index: Number.NaN }],
      ["fractional commit", { ...base, commit: 1.5 }],
      ["string logTerm", { ...base, logTerm: "1" as unknown as number }],
      ["non-boolean reject", { ...base, reject: 1 as unknown as boolean }],
      ["no term", { ...base, term: 0 }],
      ["gap in entries", mutations.entryGap!(base, () => 0)],
      ["decreasing terms", mutations.decreasingTerms!(base, () => 0)],
      ["entry from a later term", mutations.entryTermAboveMessage!(base, () => 0)],
      ["entry without data", mutations.entryNoData!(base, () => 0)],
      ["null entry", mutations.entryNull!(base, () => 0)],
      ["snapshot chunk past its size", mutations.snapPastTotal!(base, () => 0)],
      ["snapshot without a chunk", mutations.snapMissing!(base, () => 0)],
      ["snapshot without metadata", mutations.snapNoMetadata!(base, () => 0)],
      ["snapshot without ConfState", mutations.snapNoConfState!(base, () => 0)],
      ["ReadIndex without context", mutations.readIndexNoContext!(base, () => 0)],
      ["ReadIndexResp with an empty context", mutations.readIndexRespNoContext!(base, () => 0)],
      [
        "null context",
        {
          ...base,
          type: MessageType.Vote,
          term: base.term + 1,
          entries: [],
          context: null as unknown as Uint8Array,
        },
      ],
      ["AppResp from a non-member", { ...baseMessage(MessageType.AppResp, 1, 9, st.hardState.term, 1) }],
    ]
    for (const [what, m] of refused) {
      const target = m.type === MessageType.AppResp ? c.node(1).raw : raw
      const before = fingerprint(c, target.id)
      const r = target.step(m)
      expect(r?._tag, what).toBe("InvalidMessage")
      expect(fingerprint(c, target.id), what).toEqual(before)
    }
  })

  it("proposals on replicas that do not lead are dropped with a leader hint", () => {
    for (const role of ["follower", "learner", "candidate", "precandidate"] as const) {
      const { c, id } = setup(role)
      const raw = c.node(id).raw
      const last = raw.status().lastIndex
      const hint = role === "follower" || role === "learner" ? 1 : 0
      const reason = hint === 1 ? "NotLeader" : "NoLeader"
      expect(raw.propose(bytes("p")), role).toEqual({ _tag: "ProposalDropped", reason, leaderHint: hint })
      expect(raw.proposeBatch([bytes("p"), bytes("q")])).toMatchObject({
        _tag: "ProposalDropped",
        leaderHint: hint,
      })
      expect(
        raw.proposeConfChange(confChange([{ type: ConfChangeType.AddLearner, nodeId: 7 as ReplicaId }])),
      ).toMatchObject({
        _tag: "ProposalDropped",
        leaderHint: hint,
      })
      expect(raw.status().lastIndex).toBe(last)
    }
    const { c } = setup("leader")
    expect(c.node(1).raw.proposeBatch([])).toMatchObject({ _tag: "ProposalDropped" })
  })

  it("malformed conf changes are InvalidConfChange and append nothing", () => {
    const { c } = setup("leader")
    const raw = c.node(1).raw
    const last = raw.status().lastIndex
    const bad: [string, unknown][] = [
      ["changes not an array", { transition: 0, changes: "x", context: new Uint8Array(0) }],
      ["node id 0", confChange([{ type: ConfChangeType.AddNode, nodeId: 0 as ReplicaId }])],
      ["fractional node id", confChange([{ type: ConfChangeType.AddNode, nodeId: 1.5 as ReplicaId }])],
      ["NaN node id", confChange([{ type: ConfChangeType.AddNode, nodeId: Number.NaN as ReplicaId }])],
      ["unknown change type", confChange([{ type: 5 as ConfChangeType, nodeId: 4 as ReplicaId }])],
      ["unknown transition", { transition: 3, changes: [], context: new Uint8Array(0) }],
      ["context not bytes", { transition: 0, changes: [], context: "ctx" }],
      [
        "the same node twice",
        confChange([
          { type: ConfChangeType.AddNode, nodeId: 5 as ReplicaId },
          { type: ConfChangeType.RemoveNode, nodeId: 5 as ReplicaId },
        ]),
      ],
      ["leave while not joint", leaveJoint()],
      [
        "two voters under Auto",
        {
          ...confChange([{ type: ConfChangeType.AddNode, nodeId: 5 as ReplicaId }]),
          changes: [
            { type: ConfChangeType.AddNode, nodeId: 5 as ReplicaId },
            { type: ConfChangeType.AddNode, nodeId: 6 as ReplicaId },
          ],
          transition: ConfChangeTransition.Auto,
        },
      ],
      [
        "no voter left (5 and 6 joined just before)",
        confChange(
          [1, 2, 3, 5, 6].map((id) => ({ type: ConfChangeType.RemoveNode, nodeId: id as ReplicaId })),
          ConfChangeTransition.JointExplicit,
        ),
      ],
    ]
    for (const [what, cc] of bad) {
      const r = raw.proposeConfChange(cc as ConfChange)
      // Two voters at once under Auto is a valid (joint) change: the one exception here.
      if (what === "two voters under Auto") {
        expect(r._tag, what).toBe("Proposed")
        c.stabilize()
        continue
      }
      expect(r._tag, what).toBe("InvalidConfChange")
    }
    expect(raw.status().lastIndex).toBeGreaterThan(last) // only the valid joint change (and its leave)
  })

  describe("a committed conf change that cannot be applied", () => {
    /** Appends an entry as the leader would; stands for an entry another version wrote. */
    const appendRaw = (c: Cluster, data: Uint8Array) => {
      const r = c.node(1).raw.internals as unknown as { appendEntries(e: Entry[]): void }
      r.appendEntries([{ term: 0, index: 0, type: EntryType.ConfChange, data }])
    }

    for (const [what, data] of [
      ["undecodable bytes", new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])],
      ["a well-formed change that is invalid when applied", encodeConfChange(leaveJoint())],
      [
        "a change removing every voter",
        encodeConfChange(
          confChange(
            [1, 2, 3].map((id) => ({ type: ConfChangeType.RemoveNode, nodeId: id as ReplicaId })),
            ConfChangeTransition.JointExplicit,
          ),
        ),
      ],
    ] as const) {
      it(`is skipped identically by every replica: ${what}`, () => {
        const c = new Cluster()
        c.bootstrap([1, 2, 3], [4])
        c.elect(1)
        const before = c.node(1).raw.describeConfig()
        appendRaw(c, data)
        c.stabilize()
        const errors = [1, 2, 3, 4].map((id) => c.node(id).raw.lastConfChangeError())
        expect(errors[0]?._tag).toBe("InvalidConfChange")
        for (const e of errors) expect(e).toEqual(errors[0])
        for (const id of [1, 2, 3, 4]) expect(c.node(id).raw.describeConfig()).toBe(before)
        if (decodeConfChange(data) === undefined) expect(errors[0]!.reason).toMatch(/malformed/)
        // The group carries on: a new change and new entries commit everywhere.
        expect(
          c
            .node(1)
            .raw.proposeConfChange(confChange([{ type: ConfChangeType.AddNode, nodeId: 4 as ReplicaId }]))
            ._tag,
        ).toBe("Proposed")
        c.stabilize()
        c.node(1).raw.propose(bytes("after"))
        c.stabilize()
        for (const id of [1, 2, 3, 4]) {
          expect(c.node(id).raw.describeConfig()).toBe("voters=(1 2 3 4)")
          expect(c.appliedText(id)).toEqual(["after"])
        }
        // A restart replays the same decision.
        c.restart(2, { applied: c.node(2).raw.status().applied })
        expect(c.node(2).raw.lastConfChangeError()).toEqual(errors[0])
        expect(c.node(2).raw.describeConfig()).toBe("voters=(1 2 3 4)")
      })
    }
  })
})
