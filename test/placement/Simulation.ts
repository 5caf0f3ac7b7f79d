/**
 * A deterministic placement simulation: a model cluster of nodes and Raft groups (membership,
 * leader, applied indexes; no real Raft), the real `MetaStateMachine` fed through its byte
 * interface, and a minimal driver that each round records heartbeats, reconciles the record
 * with the reports, advances every operator with `nextAction`, and starts what `plan` returns.
 *
 * The model checks the safety of every membership change as it applies it: a change is only
 * accepted by a leader that can commit it, and it must leave every half of the configuration
 * with a majority of alive voters, and never two replicas of a group on one node. Violations
 * are collected in `violations` for the tests to assert empty.
 */

import { type ClusterState, findGroup, type Settings } from "../../src/meta/ClusterState.js"
import {
  decodeResponse,
  encodeCommand,
  type MetaCommand,
  type MetaResponse,
} from "../../src/meta/MetaCommand.js"
import { MetaStateMachine } from "../../src/meta/MetaStateMachine.js"
import { describeOperator } from "../../src/meta/Operator.js"
import { groupStatuses, type NodeLoad, type ReplicaReport } from "../../src/placement/LoadReport.js"
import { nextAction } from "../../src/placement/OperatorStep.js"
import { plan } from "../../src/placement/Planner.js"
import { leaderHintUpdates, membershipUpdates, nodeStateUpdates } from "../../src/placement/Reconcile.js"
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  describeConfChange,
} from "../../src/raft/ConfChange.js"
import { type GroupId, type NodeId, nodeOfReplica } from "../../src/raft/Ids.js"
import type { ReplicaId } from "../../src/raft/Types.js"

/** Settings that make a simulation converge in few rounds of one simulated second. */
export const simSettings: Partial<Settings> = {
  heartbeatTimeoutMs: 3_000,
  downTimeoutMs: 10_000,
  operatorTimeoutMs: 30_000,
  transferTimeoutMs: 5_000,
  maxOperatorsPerNode: 3,
  maxOperatorsPerCluster: 12,
  catchUpLagEntries: 0,
}

/** One simulated Raft group. */
interface ModelGroup {
  readonly id: GroupId
  voters: ReplicaId[]
  learners: ReplicaId[]
  votersOutgoing: ReplicaId[]
  learnersNext: ReplicaId[]
  autoLeave: boolean
  confVersion: number
  /** The leader's last index (= applied: every entry applies at once in the model). */
  index: number
  leader: ReplicaId
  term: number
  applied: Map<ReplicaId, number>
}

const TICK_MS = 1_000
const majority = (n: number) => Math.floor(n / 2) + 1

/** See the module comment. */
export class Simulation {
  readonly meta = new MetaStateMachine()
  readonly alive = new Map<NodeId, boolean>()
  readonly groups = new Map<GroupId, ModelGroup>()
  readonly violations: string[] = []
  readonly refusals: string[] = []
  readonly events: string[] = []
  now = 1_000_000
  #metaIndex = 0
  #tokens = 0

  /** A cluster of `nodes` nodes (zones assigned round robin from `zones`, if any). */
  constructor(nodes: number, zones: ReadonlyArray<string> = [], settings: Partial<Settings> = simSettings) {
    const labels = (i: number): Record<string, string> =>
      zones.length === 0 ? {} : { zone: zones[i % zones.length]! }
    this.propose({
      _tag: "Bootstrap",
      cluster: "sim",
      token: "t0",
      name: "n0",
      labels: labels(0),
      settings,
      at: this.now,
    })
    this.alive.set(1 as NodeId, true)
    this.#model(0 as GroupId)
    for (let i = 1; i < nodes; i++) this.addNode(labels(i))
  }

  /** The metadata group's current state. */
  get state(): ClusterState {
    return this.meta.state()
  }

  /** Applies a command through the state machine's byte interface. */
  propose(command: MetaCommand): MetaResponse {
    return decodeResponse(this.meta.apply(encodeCommand(command), ++this.#metaIndex))
  }

  /** Registers a new node; returns its id. */
  addNode(labels: Record<string, string> = {}): NodeId {
    const r = this.propose({
      _tag: "RegisterNode",
      token: `t${++this.#tokens}`,
      name: "",
      labels,
      at: this.now,
    })
    if (r._tag !== "NodeRegistered") throw new Error(`register refused: ${r._tag}`)
    this.alive.set(r.node, true)
    return r.node
  }

  /** Creates a keyspace and its model groups. */
  createKeyspace(name: string, shards: number, replicationFactor: number): void {
    const r = this.propose({ _tag: "CreateKeyspace", name, shards, replicationFactor, at: this.now })
    if (r._tag !== "KeyspaceCreated") throw new Error(`create keyspace refused: ${r._tag}`)
    for (const g of r.groups) this.#model(g)
  }

  #model(id: GroupId): void {
    const g = findGroup(this.state, id)!
    const voters = g.replicas.map((r) => r.id)
    this.groups.set(id, {
      id,
      voters,
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
      confVersion: 0,
      index: 1,
      leader: g.leaderHint,
      term: 1,
      applied: new Map(voters.map((v) => [v, 1])),
    })
  }

  /** Stops a node (it neither heartbeats nor reports; its replicas stop voting). */
  kill(node: NodeId): void {
    this.alive.set(node, false)
    this.events.push(`kill n${node}`)
  }

  /** Starts a killed node again, with its data. */
  revive(node: NodeId): void {
    this.alive.set(node, true)
    this.events.push(`revive n${node}`)
  }

  /** Re-registers a node with new labels (a restart with a changed configuration). */
  relabel(node: NodeId, labels: Record<string, string>): MetaResponse {
    const token = this.state.nodes.find((n) => n.id === node)!.token
    return this.propose({ _tag: "RegisterNode", token, name: "", labels, at: this.now })
  }

  /** Asks for a node to be drained. */
  drain(node: NodeId): MetaResponse {
    return this.propose({ _tag: "SetNodeState", node, state: "draining", at: this.now })
  }

  #isAlive = (r: ReplicaId) => this.alive.get(nodeOfReplica(r)) === true

  #hasQuorum(g: ModelGroup): boolean {
    const ok = (set: ReplicaId[]) =>
      set.length === 0 || set.filter(this.#isAlive).length >= majority(set.length)
    return g.voters.length > 0 && ok(g.voters) && ok(g.votersOutgoing)
  }

  /** The world moves: leaders are elected, entries apply, learners catch up, joint configurations are left. */
  #progress(): void {
    for (const g of this.groups.values()) {
      const voters = new Set([...g.voters, ...g.votersOutgoing])
      if (g.leader === 0 || !this.#isAlive(g.leader) || !voters.has(g.leader)) {
        g.leader = 0 as ReplicaId
        if (this.#hasQuorum(g)) {
          const candidates = [...voters].filter(this.#isAlive).sort((a, b) => a - b)
          g.leader = candidates[0]!
          g.term++
        }
      }
      if (g.leader === 0) continue
      g.index++
      for (const r of [...voters, ...g.learners, ...g.learnersNext]) {
        if (this.#isAlive(r)) g.applied.set(r, g.index)
      }
      if (g.votersOutgoing.length > 0 && g.autoLeave) this.#leaveJoint(g)
    }
  }

  #leaveJoint(g: ModelGroup): void {
    g.votersOutgoing = []
    g.learners = [...g.learners, ...g.learnersNext]
    g.learnersNext = []
    g.autoLeave = false
    g.confVersion = ++g.index
    this.#checkSafety(g, "leave-joint")
  }

  #checkSafety(g: ModelGroup, what: string): void {
    if (!this.#hasQuorum(g)) this.violations.push(`g${g.id} lost quorum after ${what} at ${this.now}`)
    const members = [...new Set([...g.voters, ...g.votersOutgoing, ...g.learners, ...g.learnersNext])]
    const nodes = new Set(members.map(nodeOfReplica))
    if (nodes.size !== members.length)
      this.violations.push(`g${g.id} has two replicas on one node after ${what}`)
  }

  /** Applies a configuration change as the group's leader would, or drops it. */
  #applyChange(g: ModelGroup, cc: ConfChange): void {
    if (g.leader === 0 || !this.#hasQuorum(g)) return
    const joint = g.votersOutgoing.length > 0
    if (cc.changes.length === 0) {
      if (joint) this.#leaveJoint(g)
      return
    }
    if (joint) return
    const enterJoint = cc.transition !== ConfChangeTransition.Auto || cc.changes.length > 1
    if (enterJoint) {
      g.votersOutgoing = [...g.voters]
      g.autoLeave = cc.transition !== ConfChangeTransition.JointExplicit
    }
    const before = new Set(g.voters)
    for (const c of cc.changes) {
      const id = c.nodeId
      const drop = (xs: ReplicaId[]) => xs.filter((x) => x !== id)
      if (c.type === ConfChangeType.AddNode) {
        g.learners = drop(g.learners)
        if (!g.voters.includes(id)) g.voters = [...g.voters, id]
        if (!g.applied.has(id)) g.applied.set(id, 0)
      } else if (c.type === ConfChangeType.AddLearner) {
        if (g.voters.includes(id)) {
          g.voters = drop(g.voters)
          if (enterJoint) g.learnersNext = [...g.learnersNext, id]
          else g.learners = [...g.learners, id]
        } else if (!g.learners.includes(id)) {
          g.learners = [...g.learners, id]
          g.applied.set(id, 0)
        }
      } else {
        g.voters = drop(g.voters)
        g.learners = drop(g.learners)
        g.applied.delete(id)
      }
    }
    const changedVoters =
      [...before].filter((v) => !g.voters.includes(v)).length + g.voters.filter((v) => !before.has(v)).length
    if (!enterJoint && changedVoters > 1)
      this.violations.push(`g${g.id}: simple change of ${changedVoters} voters`)
    g.confVersion = ++g.index
    this.#checkSafety(g, describeConfChange(cc))
  }

  /** What alive nodes report this round. */
  loads(): NodeLoad[] {
    const reports = new Map<NodeId, ReplicaReport[]>()
    for (const g of this.groups.values()) {
      const members = new Set([...g.voters, ...g.votersOutgoing, ...g.learners, ...g.learnersNext])
      for (const r of members) {
        const node = nodeOfReplica(r)
        if (!this.alive.get(node)) continue
        const leads = r === g.leader
        const list = reports.get(node) ?? []
        list.push({
          group: g.id,
          replica: r,
          role: g.voters.includes(r) || g.votersOutgoing.includes(r) ? "voter" : "learner",
          leader: leads,
          term: g.term,
          applied: g.applied.get(r) ?? 0,
          sizeBytes: 0,
          membership: leads
            ? {
                confVersion: g.confVersion,
                voters: [...g.voters].sort((a, b) => a - b),
                learners: [...g.learners].sort((a, b) => a - b),
                votersOutgoing: [...g.votersOutgoing].sort((a, b) => a - b),
                learnersNext: [...g.learnersNext].sort((a, b) => a - b),
                autoLeave: g.autoLeave,
              }
            : undefined,
        })
        reports.set(node, list)
      }
    }
    return [...reports]
      .sort(([a], [b]) => a - b)
      .map(([node, replicas]) => ({ node, at: this.now, replicas }))
  }

  #proposeExpecting(command: MetaCommand, what: string): MetaResponse {
    const r = this.propose(command)
    const ok = ["Done", "NodeRegistered", "ReplicaAllocated", "OperatorStarted", "KeyspaceCreated"]
    if (!ok.includes(r._tag)) this.refusals.push(`${what} ${command._tag}: ${r._tag}`)
    return r
  }

  /** One simulated second: returns the number of operators started. */
  round(): number {
    this.now += TICK_MS
    for (const [node, up] of this.alive) {
      if (up) this.#proposeExpecting({ _tag: "Heartbeat", node, at: this.now }, "heartbeat")
    }
    this.#progress()
    const loads = this.loads()
    const statuses = groupStatuses(loads)
    for (const c of nodeStateUpdates(this.state, this.now)) this.#proposeExpecting(c, "liveness")
    for (const c of membershipUpdates(this.state, statuses)) this.#proposeExpecting(c, "reconcile")
    for (const c of leaderHintUpdates(this.state, statuses)) this.#proposeExpecting(c, "leader hint")
    for (const op of this.state.operators.map((o) => o.id)) this.#drive(op, statuses)
    const planned = plan(this.state, loads, this.now)
    for (const spec of planned) {
      this.events.push(`${this.now}: start ${describeOperator(spec)}`)
      this.#proposeExpecting({ _tag: "StartOperator", spec, at: this.now }, "plan")
    }
    return planned.length
  }

  /** Advances one operator: meta commands at once, at most one group action per round. */
  #drive(id: number, statuses: ReturnType<typeof groupStatuses>): void {
    for (let i = 0; i < 8; i++) {
      const op = this.state.operators.find((o) => o.id === id)
      if (op === undefined) return
      const action = nextAction(op, this.state, statuses.get(op.spec.group), this.now)
      switch (action._tag) {
        case "Wait":
          return
        case "ProposeMeta":
          if (action.command._tag === "FinishOperator" || action.command._tag === "RollbackOperator") {
            this.events.push(`${this.now}: ${action.command._tag} ${describeOperator(op.spec)}`)
          }
          this.#proposeExpecting(action.command, `operator ${id}`)
          if (action.command._tag === "RecordMembership") return
          break
        case "ChangeMembership":
          this.#applyChange(this.groups.get(action.group)!, action.change)
          return
        case "TransferLeadership": {
          const g = this.groups.get(action.group)!
          if (g.voters.includes(action.to) && this.#isAlive(action.to) && g.leader !== 0) {
            g.leader = action.to
            g.term++
          }
          return
        }
      }
    }
  }

  /**
   * Runs rounds until the planner has nothing to do and no operator is in flight for three
   * rounds in a row; returns the rounds used. Throws after `maxRounds`.
   */
  settle(maxRounds = 400): number {
    let quiet = 0
    for (let i = 1; i <= maxRounds; i++) {
      const started = this.round()
      quiet = started === 0 && this.state.operators.length === 0 ? quiet + 1 : 0
      if (quiet >= 3) return i
    }
    throw new Error(
      `no convergence in ${maxRounds} rounds; last events:\n${this.events.slice(-20).join("\n")}`,
    )
  }

  /** Runs `n` rounds. */
  run(n: number): void {
    for (let i = 0; i < n; i++) this.round()
  }
}
