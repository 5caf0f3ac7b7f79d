/**
 * fast-check generators of metadata commands: drawn from small id and name ranges so that a
 * random sequence hits valid commands as often as refused ones.
 */
import fc from "fast-check"
import type { NodeState } from "../../src/meta/ClusterState.js"
import type { MetaCommand } from "../../src/meta/MetaCommand.js"
import type { OperatorReason, OperatorSpec } from "../../src/meta/Operator.js"
import { type GroupId, type NodeId, replicaIdOf } from "../../src/raft/Ids.js"
import type { ReplicaId } from "../../src/raft/Types.js"

const node = fc.integer({ min: 1, max: 7 }).map((n) => n as NodeId)
const group = fc.integer({ min: 0, max: 6 }).map((n) => n as GroupId)
const generation = fc.oneof(
  { arbitrary: fc.constant(0), weight: 4 },
  { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 1 },
)
const replica = fc.tuple(node, generation).map(([n, gen]) => replicaIdOf(n, gen) as ReplicaId)
const at = fc.integer({ min: 0, max: 200_000 })
const token = fc.constantFrom("t1", "t2", "t3", "t4", "t5", "t6", "t7")
const zone = fc.option(fc.constantFrom("a", "b", "c"), { nil: undefined })
const labels = zone.map((z): Record<string, string> => (z === undefined ? {} : { zone: z }))
const opId = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 }))
const reason = fc.constantFrom<OperatorReason[]>("balance-replicas", "drain", "replace-failed")

const spec: fc.Arbitrary<OperatorSpec> = fc.oneof(
  fc.record({ _tag: fc.constant("AddReplica" as const), group, node, reason }),
  fc.record({ _tag: fc.constant("RemoveReplica" as const), group, replica, reason }),
  fc.record({ _tag: fc.constant("MoveReplica" as const), group, from: replica, node, reason }),
  fc.record({ _tag: fc.constant("TransferLeader" as const), group, from: replica, to: replica, reason }),
)

const replicas = fc.uniqueArray(replica, { maxLength: 4 })

/** Any command but `Bootstrap`, with small ranges. */
export const command: fc.Arbitrary<MetaCommand> = fc.oneof(
  {
    arbitrary: fc.record({
      _tag: fc.constant("RegisterNode" as const),
      token,
      name: fc.constant("n"),
      labels,
      at,
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ _tag: fc.constant("Heartbeat" as const), node, at }), weight: 3 },
  {
    arbitrary: fc.record({
      _tag: fc.constant("SetNodeState" as const),
      node,
      state: fc.constantFrom<NodeState[]>("up", "down", "draining", "removed"),
      at,
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      _tag: fc.constant("CreateKeyspace" as const),
      name: fc.constantFrom("a", "b", "Bad!"),
      shards: fc.integer({ min: 0, max: 6 }),
      replicationFactor: fc.integer({ min: 0, max: 4 }),
      at,
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      _tag: fc.constant("DeleteKeyspace" as const),
      name: fc.constantFrom("a", "b"),
      at,
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      _tag: fc.constant("SetReplicationFactor" as const),
      keyspace: fc.constantFrom("a", "b"),
      replicationFactor: fc.integer({ min: 0, max: 8 }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ _tag: fc.constant("AddLearner" as const), group, node, operator: opId }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      _tag: fc.constant("PromoteLearner" as const),
      group,
      replica,
      confVersion: fc.integer({ min: 0, max: 20 }),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      _tag: fc.constant("DropReplica" as const),
      group,
      replica,
      confVersion: fc.integer({ min: 0, max: 20 }),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      _tag: fc.constant("RecordMembership" as const),
      group,
      confVersion: fc.integer({ min: 0, max: 20 }),
      voters: replicas,
      learners: replicas,
      votersOutgoing: fc.constant([]),
      learnersNext: fc.constant([]),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      _tag: fc.constant("SetLeaderHint" as const),
      group,
      leader: replica,
      term: fc.integer({ min: 0, max: 5 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ _tag: fc.constant("StartOperator" as const), spec, at }), weight: 6 },
  {
    arbitrary: fc.record({
      _tag: fc.constant("StepOperator" as const),
      id: opId,
      step: fc.constant("x"),
      at,
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      _tag: fc.constant("FinishOperator" as const),
      id: opId,
      outcome: fc.constantFrom<Array<"succeeded" | "rolled-back">>("succeeded", "rolled-back"),
      at,
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      _tag: fc.constant("RollbackOperator" as const),
      id: opId,
      cause: fc.constant("c"),
      at,
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ _tag: fc.constant("TimeoutOperator" as const), id: opId, at }), weight: 1 },
  {
    arbitrary: fc.record({
      _tag: fc.constant("UpdateSettings" as const),
      settings: fc.record(
        {
          replicationFactor: fc.integer({ min: 0, max: 9 }),
          heartbeatTimeoutMs: fc.integer({ min: 0, max: 20_000 }),
          maxOperatorsPerNode: fc.integer({ min: 0, max: 4 }),
        },
        { requiredKeys: [] },
      ),
    }),
    weight: 1,
  },
)

/** The bootstrap every generated history starts with. */
export const bootstrap: MetaCommand = {
  _tag: "Bootstrap",
  cluster: "test",
  token: "t0",
  name: "n0",
  labels: { zone: "a" },
  settings: {},
  at: 0,
}

/** The start of every generated history: a bootstrapped cluster of five nodes and a keyspace. */
export const prelude: ReadonlyArray<MetaCommand> = [
  bootstrap,
  ...["t1", "t2", "t3", "t4"].map(
    (token, i): MetaCommand => ({
      _tag: "RegisterNode",
      token,
      name: "",
      labels: { zone: ["b", "c", "a", "b"][i]! },
      at: 0,
    }),
  ),
  { _tag: "CreateKeyspace", name: "a", shards: 4, replicationFactor: 3, at: 0 },
]

/** Rewrites the proposer times of a command sequence so that they grow by about 100 ms per command. */
const clocked = (commands: ReadonlyArray<MetaCommand>, from: number): MetaCommand[] =>
  commands.map((c, i) => ("at" in c ? { ...c, at: (from + i) * 100 + (c.at % 100) } : c))

/** A history: the prelude, then up to `max` random commands with growing times. */
export const history = (max = 60): fc.Arbitrary<MetaCommand[]> =>
  fc.array(command, { maxLength: max }).map((cs) => [...prelude, ...clocked(cs, prelude.length)])
