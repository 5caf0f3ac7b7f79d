/**
 * What `flotilla status` (and `flotilla dev`) print: the nodes the metadata group knows (state,
 * replicas, groups led), and
 * every group with its slots, replicas, current leader and replication lag. The metadata group
 * gives the nodes and the shard map; each node's admin endpoint (`<root>.admin.<node>`) gives
 * what its replicas see (who leads, how far each follower is behind the leader's log).
 */
import { Effect, Either, Schema } from "effect"
import type { CallError } from "../client/ClientErrors.js"
import type { RouterService } from "../client/Router.js"
import { nodeOfReplica } from "../raft/Ids.js"
import type { BusService } from "../transport/Bus.js"
import { table } from "./Table.js"

/** One replica as a node's admin `status` reports it (the fields used here). */
const AdminGroup = Schema.Struct({
  groupId: Schema.Number,
  isLeader: Schema.Boolean,
  lastIndex: Schema.Number,
  applied: Schema.Number,
  progress: Schema.optional(
    Schema.Array(Schema.Struct({ replica: Schema.Number, match: Schema.Number, learner: Schema.Boolean })),
  ),
})
const AdminStatus = Schema.Struct({
  ok: Schema.Literal(true),
  node: Schema.Number,
  groups: Schema.Array(AdminGroup),
  /** More replicas after this group id (the answer is paged). */
  next: Schema.optional(Schema.Number),
})
type AdminGroup = typeof AdminGroup.Type
const decodeAdmin = Schema.decodeUnknownEither(Schema.parseJson(AdminStatus))

/** A row of the node table. */
export interface NodeRow {
  readonly id: number
  readonly name: string
  readonly state: string
  readonly replicas: number
  /** Groups it leads, by its own admin endpoint; undefined when it did not answer. */
  readonly leads: number | undefined
}

/** A row of the group table. */
export interface GroupRow {
  readonly keyspace: string
  readonly group: number
  readonly slots: string
  readonly replicas: string
  readonly leader: number | undefined
  /** Entries the furthest-behind member trails the leader's log by (undefined: no leader seen). */
  readonly lag: number | undefined
}

/** The whole picture. */
export interface StatusReport {
  readonly cluster: string
  readonly mapVersion: number
  readonly nodes: ReadonlyArray<NodeRow>
  readonly groups: ReadonlyArray<GroupRow>
}

const decoder = new TextDecoder()
const encoder = new TextEncoder()

/** Every replica a node's admin endpoint reports, page after page; undefined if it did not answer. */
const adminStatus = (bus: BusService, subject: string) =>
  Effect.gen(function* () {
    const groups: AdminGroup[] = []
    let after: number | undefined
    for (;;) {
      const request = encoder.encode(
        JSON.stringify({ op: "status", ...(after !== undefined ? { after } : {}) }),
      )
      const bytes = yield* bus.request(subject, request, { timeout: "2 seconds" })
      const page = Either.getOrUndefined(decodeAdmin(decoder.decode(bytes)))
      if (page === undefined) return undefined
      groups.push(...page.groups)
      if (page.next === undefined || page.next <= (after ?? -1)) return { node: page.node, groups }
      after = page.next
    }
  }).pipe(Effect.orElseSucceed(() => undefined))

/** Gathers the report through `router` (metadata) and `bus` (admin endpoints). */
export const gather = (router: RouterService, bus: BusService): Effect.Effect<StatusReport, CallError> =>
  Effect.gen(function* () {
    const map = yield* router.refresh()
    const answer = yield* router.meta({ _tag: "GetNodes" })
    const nodes = answer._tag === "NodeList" ? answer.nodes : []
    const live = nodes.filter((n) => n.state !== "removed")
    const admin = yield* Effect.forEach(live, (n) => adminStatus(bus, router.subjects.admin(n.id)), {
      concurrency: "unbounded",
    })
    const leaders = new Map<number, { node: number; lag: number }>()
    const leads = new Map<number, number>()
    for (const status of admin) {
      if (status === undefined) continue
      leads.set(status.node, 0)
      for (const g of status.groups) {
        if (!g.isLeader) continue
        leads.set(status.node, (leads.get(status.node) ?? 0) + 1)
        let lag = 0
        for (const p of g.progress ?? []) lag = Math.max(lag, g.lastIndex - p.match)
        leaders.set(g.groupId, { node: status.node, lag })
      }
    }
    const slotsOf = new Map<number, { keyspace: string; slots: string }>()
    for (const [name, shards] of map.keyspaces)
      for (const s of shards) slotsOf.set(s.group, { keyspace: name, slots: `${s.start}-${s.end - 1}` })
    const groups: GroupRow[] = [...map.groups.values()]
      .sort((a, b) => a.id - b.id)
      .map((g) => ({
        keyspace: g.id === 0 ? "(meta)" : (slotsOf.get(g.id)?.keyspace ?? g.keyspace),
        group: g.id,
        slots: slotsOf.get(g.id)?.slots ?? "-",
        replicas: g.replicas
          .map(
            (r) => `n${nodeOfReplica(r.id)}${r.role === "voter" ? "" : r.role === "learner" ? "(l)" : "(j)"}`,
          )
          .join(" "),
        leader: leaders.get(g.id)?.node,
        lag: leaders.get(g.id)?.lag,
      }))
    return {
      cluster: router.cluster,
      mapVersion: map.version,
      nodes: nodes.map((n) => ({
        id: n.id,
        name: n.name,
        state: n.state,
        replicas: n.replicas,
        leads: leads.get(n.id),
      })),
      groups,
    }
  })

/** The report as text: a summary line, the node table, the group table. */
export const render = (r: StatusReport): string => {
  const leaderless = r.groups.filter((g) => g.leader === undefined).length
  const summary = `cluster ${r.cluster}: ${r.nodes.length} node(s), ${r.groups.length} group(s), shard map v${r.mapVersion}${leaderless > 0 ? `, ${leaderless} without a leader` : ""}`
  const nodes = table(
    ["NODE", "NAME", "STATE", "REPLICAS", "LEADS"],
    r.nodes.map((n) => [
      `n${n.id}`,
      n.name,
      n.state,
      String(n.replicas),
      n.leads === undefined ? "(no answer)" : String(n.leads),
    ]),
  )
  const groups = table(
    ["KEYSPACE", "GROUP", "SLOTS", "LEADER", "REPLICAS", "LAG"],
    r.groups.map((g) => [
      g.keyspace,
      String(g.group),
      g.slots,
      g.leader === undefined ? "-" : `n${g.leader}`,
      g.replicas,
      g.lag === undefined ? "-" : String(g.lag),
    ]),
  )
  return `${summary}\n\n${nodes}\n\n${groups}`
}
