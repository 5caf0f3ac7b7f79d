/**
 * The commands of the datadriven scenario files (test/raft/testdata/*.txt), run against a
 * hand-driven `Cluster`. Output is printed with the core's describers (src/raft/Describe.ts).
 *
 *   add-nodes <n> [voters=(1,2,3)] [learners=(4)] [pre-vote=true] [check-quorum=true]
 *             [max-size-per-msg=N] [max-inflight=N] [snapshot-chunk=N] [inflight-chunks=N]
 *   add-empty <id>                      a replica with empty storage, to be added by a change
 *   campaign <id>                       start an election now
 *   tick <id> [n]                       n ticks (default 1)
 *   propose <id> <text>
 *   propose-conf-change <id> [transition=implicit|explicit] [v4 r1 l5 ...]  (none: leave joint)
 *   transfer-leadership from=<id> to=<id>
 *   read-index <id> <ctx>
 *   process-ready <id>...               take, persist, send, apply, advance; prints each Ready
 *   deliver-msgs <id>... [drop=(ids)] [type=MsgX]
 *                                       step the waiting messages; drop= discards instead
 *   stabilize [<id>...]                 process Readies and deliver until nothing moves
 *   snapshot <id>                       snapshot at the applied index and compact the log
 *   restart <id>                        recreate from storage
 *   raft-state | status <id> | log <id>
 */
import {
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  confChange,
} from "../../../src/raft/ConfChange.js"
import { describeBytes, describeEntry, describeMessage, describeReady } from "../../../src/raft/Describe.js"
import {
  type Message,
  messageTypeName,
  type ReplicaId,
  StateType,
  stateTypeName,
} from "../../../src/raft/Types.js"
import { Cluster, type NodeOptions } from "./Cluster.js"
import type { Command } from "./datadriven.js"

const ids = (s: string | undefined): number[] =>
  s === undefined || s.trim() === "" ? [] : s.split(/[,\s]+/).map((x) => Number(x))

const enc = new TextEncoder()

export class Interaction {
  private cluster: Cluster | undefined

  private get c(): Cluster {
    if (this.cluster === undefined) throw new Error("no nodes: use add-nodes first")
    return this.cluster
  }

  run(cmd: Command): string {
    const out: string[] = []
    const id = (i = 0) => {
      const v = Number(cmd.args[i])
      if (!Number.isInteger(v)) throw new Error(`${cmd.name}: argument ${i + 1} must be a replica id`)
      return v
    }
    switch (cmd.name) {
      case "add-nodes": {
        const n = Number(cmd.args[0])
        const voters = cmd.kv.has("voters")
          ? ids(cmd.kv.get("voters"))
          : Array.from({ length: n }, (_, i) => i + 1)
        const learners = ids(cmd.kv.get("learners"))
        const opts: NodeOptions = {
          preVote: cmd.kv.get("pre-vote") === "true",
          checkQuorum: cmd.kv.get("check-quorum") === "true",
          ...(cmd.kv.has("max-size-per-msg")
            ? { maxSizePerMsg: Number(cmd.kv.get("max-size-per-msg")) }
            : {}),
          ...(cmd.kv.has("max-inflight") ? { maxInflightMsgs: Number(cmd.kv.get("max-inflight")) } : {}),
          ...(cmd.kv.has("snapshot-chunk")
            ? { maxSnapshotChunkBytes: Number(cmd.kv.get("snapshot-chunk")) }
            : {}),
          ...(cmd.kv.has("inflight-chunks")
            ? { maxInflightSnapshotChunks: Number(cmd.kv.get("inflight-chunks")) }
            : {}),
        }
        this.cluster = new Cluster(opts)
        this.c.bootstrap(voters, learners)
        this.c.inbox.clear()
        return this.raftState()
      }
      case "add-empty":
        this.c.addEmpty(id())
        return this.raftState()
      case "campaign":
        this.c.node(id()).raw.campaign()
        return ""
      case "tick": {
        const n = cmd.args[1] === undefined ? 1 : Number(cmd.args[1])
        for (let i = 0; i < n; i++) this.c.node(id()).raw.tick()
        return ""
      }
      case "propose": {
        const r = this.c.node(id()).raw.propose(enc.encode(cmd.args.slice(1).join(" ")))
        return r._tag === "Proposed"
          ? `Proposed index=${r.index} term=${r.term}`
          : `${r._tag} ${r.reason} leader=${r.leaderHint}`
      }
      case "propose-conf-change": {
        const names: Record<string, ConfChangeType> = {
          v: ConfChangeType.AddNode,
          r: ConfChangeType.RemoveNode,
          l: ConfChangeType.AddLearner,
        }
        const changes: ConfChangeSingle[] = cmd.args.slice(1).map((a) => {
          const type = names[a[0]!]
          if (type === undefined) throw new Error(`bad change ${a}`)
          return { type, nodeId: Number(a.slice(1)) as ReplicaId }
        })
        const t = cmd.kv.get("transition")
        const transition =
          t === "explicit"
            ? ConfChangeTransition.JointExplicit
            : t === "implicit"
              ? ConfChangeTransition.JointImplicit
              : ConfChangeTransition.Auto
        const r = this.c.node(id()).raw.proposeConfChange(confChange(changes, transition))
        if (r._tag === "Proposed") return `Proposed index=${r.index} term=${r.term}`
        return r._tag === "ProposalDropped"
          ? `ProposalDropped ${r.reason} leader=${r.leaderHint}`
          : `${r._tag}: ${r.reason}`
      }
      case "transfer-leadership": {
        const from = Number(cmd.kv.get("from"))
        const to = Number(cmd.kv.get("to")) as ReplicaId
        const r = this.c.node(from).raw.transferLeader(to)
        return r === undefined ? "" : `${r._tag} ${r.reason} leader=${r.leaderHint}`
      }
      case "read-index": {
        const r = this.c.node(id()).raw.readIndex(enc.encode(cmd.args[1] ?? ""))
        return r === undefined ? "" : `${r._tag} ${r.reason} leader=${r.leaderHint}`
      }
      case "process-ready":
        for (const a of cmd.args) this.processReady(Number(a), out)
        return out.join("\n")
      case "deliver-msgs": {
        for (const d of ids(cmd.kv.get("drop"))) {
          for (const m of this.c.inbox.get(d as ReplicaId) ?? []) out.push(`dropped: ${describeMessage(m)}`)
          this.c.inbox.set(d as ReplicaId, [])
        }
        const type = cmd.kv.get("type")
        for (const a of cmd.args)
          this.deliver(
            Number(a),
            out,
            type === undefined ? undefined : (m) => messageTypeName(m.type) === type,
          )
        return out.join("\n")
      }
      case "stabilize": {
        const which =
          cmd.args.length > 0 ? cmd.args.map(Number) : [...this.c.nodes.keys()].sort((a, b) => a - b)
        for (let round = 0; round < 100; round++) {
          let moved = false
          for (const n of which) moved = this.processReady(n, out) || moved
          for (const n of which) moved = this.deliver(n, out) || moved
          if (!moved) return out.join("\n")
        }
        throw new Error("did not stabilize in 100 rounds")
      }
      case "snapshot": {
        const n = this.c.node(id())
        const applied = n.raw.status().applied
        const data = enc.encode(this.c.appliedText(n.id).join(","))
        const s = n.storage.createSnapshot(applied, n.raw.confState(), data)
        if (typeof s !== "object" || "_tag" in s) throw new Error(`snapshot refused: ${JSON.stringify(s)}`)
        n.storage.compact(applied)
        return `snapshot Index:${s.metadata.index} Term:${s.metadata.term} Data:${describeBytes(data)}; log now starts at ${n.storage.firstIndex()}`
      }
      case "restart":
        this.c.restart(id())
        return this.raftState()
      case "raft-state":
        return this.raftState()
      case "status":
        return this.status(id())
      case "log":
        return this.log(id())
      default:
        throw new Error(`unknown command ${cmd.name}`)
    }
  }

  private processReady(n: number, out: string[]): boolean {
    const node = this.c.node(n)
    if (!node.raw.hasReady()) return false
    const rd = node.raw.ready()
    out.push(`> ${n} handling Ready`)
    for (const line of describeReady(rd).split("\n")) out.push(`  ${line}`)
    this.c.send(rd.messages)
    this.c.persist(n, rd)
    this.c.send(rd.persistedMessages)
    for (const e of rd.committedEntries) node.applied.push(e)
    node.raw.advance(rd)
    return true
  }

  private deliver(n: number, out: string[], keep?: (m: Message) => boolean): boolean {
    const q = this.c.inbox.get(n as ReplicaId) ?? []
    const now = keep ? q.filter(keep) : q
    this.c.inbox.set(n as ReplicaId, keep ? q.filter((m) => !keep(m)) : [])
    if (now.length === 0) return false
    out.push(`> ${n} receiving messages`)
    for (const m of now) {
      out.push(`  ${describeMessage(m)}`)
      const err = this.c.node(n).raw.step(m)
      if (err) out.push(`  refused: ${err.reason}`)
    }
    return true
  }

  private raftState(): string {
    return [...this.c.nodes.values()]
      .sort((a, b) => a.id - b.id)
      .map((n) => {
        const st = n.raw.status()
        const role = n.raw.internals.isLearner
          ? "Learner"
          : n.raw.internals.prs.isVoter(n.id)
            ? "Voter"
            : "Non-member"
        return `${n.id}: ${stateTypeName(st.softState.raftState)} (${role}) Term:${st.hardState.term} Lead:${st.softState.lead} ${n.raw.describeConfig()}`
      })
      .join("\n")
  }

  private status(n: number): string {
    const raw = this.c.node(n).raw
    const r = raw.internals
    const lines = [
      `${n}: ${stateTypeName(r.state)} Term:${r.term} Commit:${r.log.committed} Applied:${r.log.applied}`,
    ]
    if (r.state === StateType.Leader) {
      for (const [pid, pr] of [...r.prs.progress].sort((a, b) => a[0] - b[0]))
        lines.push(`  ${pid}: ${pr.describe()}`)
    }
    return lines.join("\n")
  }

  private log(n: number): string {
    const node = this.c.node(n)
    const log = node.raw.internals.log
    const lines = [
      `first=${log.firstIndex()} last=${log.lastIndex()} committed=${log.committed} applied=${log.applied}`,
    ]
    for (const e of log.allEntries()) lines.push(`  ${describeEntry(e)}`)
    return lines.join("\n")
  }
}
