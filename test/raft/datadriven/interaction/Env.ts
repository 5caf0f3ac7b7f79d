/**
 * The state the interaction commands (one file per command, in this folder) share: a
 * hand-driven `Cluster` (test/raft/support/Cluster.ts), and the steps several commands take:
 * handling a replica's Ready, delivering its inbox, printing the replicas' roles. Output is
 * printed with the core's describers (src/raft/Describe.ts).
 */
import { describeMessage, describeReady } from "../../../../src/raft/Describe.js"
import { type Message, type ReplicaId, stateTypeName } from "../../../../src/raft/Types.js"
import type { Cluster } from "../../support/Cluster.js"
import type { Command } from "../../support/datadriven.js"

/** The comma- or space-separated numbers of an argument (`voters=(1,2,3)`). */
export const ids = (s: string | undefined): number[] =>
  s === undefined || s.trim() === "" ? [] : s.split(/[,\s]+/).map((x) => Number(x))

/** The `i`-th positional argument, which must be a replica id. */
export const replicaArg = (cmd: Command, i = 0): number => {
  const v = Number(cmd.args[i])
  if (!Number.isInteger(v)) throw new Error(`${cmd.name}: argument ${i + 1} must be a replica id`)
  return v
}

/** See the module comment. */
export class InteractionEnv {
  private current: Cluster | undefined

  /** The cluster; commands other than `add-nodes` need one. */
  get cluster(): Cluster {
    if (this.current === undefined) throw new Error("no nodes: use add-nodes first")
    return this.current
  }

  /** Starts over with `cluster`. */
  reset(cluster: Cluster): void {
    this.current = cluster
  }

  /** Takes replica `n`'s Ready, if any: prints it, sends, persists, applies, advances. */
  processReady(n: number, out: string[]): boolean {
    const node = this.cluster.node(n)
    if (!node.raw.hasReady()) return false
    const rd = node.raw.ready()
    out.push(`> ${n} handling Ready`)
    for (const line of describeReady(rd).split("\n")) out.push(`  ${line}`)
    this.cluster.send(rd.messages)
    this.cluster.persist(n, rd)
    this.cluster.send(rd.persistedMessages)
    for (const e of rd.committedEntries) node.applied.push(e)
    node.raw.advance(rd)
    return true
  }

  /** Steps the messages waiting for replica `n` (those `keep` selects, or all); prints them. */
  deliver(n: number, out: string[], keep?: (m: Message) => boolean): boolean {
    const inbox = this.cluster.inbox
    const q = inbox.get(n as ReplicaId) ?? []
    const now = keep ? q.filter(keep) : q
    inbox.set(n as ReplicaId, keep ? q.filter((m) => !keep(m)) : [])
    if (now.length === 0) return false
    out.push(`> ${n} receiving messages`)
    for (const m of now) {
      out.push(`  ${describeMessage(m)}`)
      const err = this.cluster.node(n).raw.step(m)
      if (err) out.push(`  refused: ${err.reason}`)
    }
    return true
  }

  /** One line per replica: state, role, term, leader, configuration. */
  raftState(): string {
    return [...this.cluster.nodes.values()]
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
}

/** A command's handler: its output (empty prints `ok`); a thrown error prints `error: ...`. */
export type Handler = (env: InteractionEnv, cmd: Command) => string
