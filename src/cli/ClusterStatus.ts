/**
 * What `flotilla status` (and `flotilla dev`) print: the nodes the metadata group knows (state,
 * health, readiness, replicas, groups led, HTTP address), and
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
  /** Why the replica stopped (it no longer takes part until the node restarts). */
  stopped: Schema.optional(Schema.String),
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

const Verdict = Schema.Struct({ ok: Schema.Boolean, reasons: Schema.Array(Schema.String) })
/** A node's admin `summary`: the fields used here (its vitals, src/node/NodeVitals.ts). */
const AdminSummary = Schema.Struct({
  ok: Schema.Literal(true),
  health: Schema.optional(Verdict),
  ready: Schema.optional(Verdict),
  http: Schema.optional(Schema.NullOr(Schema.String)),
})
const decodeSummary = Schema.decodeUnknownEither(Schema.parseJson(AdminSummary))

/** A row of the node table. */
export interface NodeRow {
  readonly id: number
  readonly name: string
  readonly state: string
  readonly replicas: number
  /** Groups it leads, by its own admin endpoint; undefined when it did not answer. */
  readonly leads: number | undefined
  /** "ok", or why not (its `/health`); undefined when it did not answer. */
  readonly health: string | undefined
  /** "ready", or why not (its `/ready`); undefined when it did not answer. */
  readonly ready: string | undefined
  /** Its HTTP endpoint, when it has one. */
  readonly http: string | undefined
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
  /** Replicas stopped on their node, with the reason (supervision, docs/runtime.md). */
  readonly stopped?: ReadonlyArray<StoppedReplica>
}

/** A replica that stopped on its node. */
export interface StoppedReplica {
  readonly group: number
  readonly node: number
  readonly reason: string
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

/** A node's admin `summary`; undefined if it did not answer. */
const adminSummary = (bus: BusService, subject: string) =>
  bus.request(subject, encoder.encode(JSON.stringify({ op: "summary" })), { timeout: "2 seconds" }).pipe(
    Effect.map((bytes) => Either.getOrUndefined(decodeSummary(decoder.decode(bytes)))),
    Effect.orElseSucceed(() => undefined),
  )

const verdictText = (v: typeof Verdict.Type | undefined, okText: string): string | undefined =>
  v === undefined ? undefined : v.ok ? okText : v.reasons.join("; ")

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
    const summaries = new Map(
      yield* Effect.forEach(
        live,
        (n) => Effect.map(adminSummary(bus, router.subjects.admin(n.id)), (s) => [n.id, s] as const),
        { concurrency: "unbounded" },
      ),
    )
    const leaders = new Map<number, { node: number; lag: number }>()
    const leads = new Map<number, number>()
    const stopped: StoppedReplica[] = []
    for (const status of admin) {
      if (status === undefined) continue
      leads.set(status.node, 0)
      for (const g of status.groups) {
        if (g.stopped !== undefined) stopped.push({ group: g.groupId, node: status.node, reason: g.stopped })
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
        health: verdictText(summaries.get(n.id)?.health, "ok"),
        ready: verdictText(summaries.get(n.id)?.ready, "ready"),
        http: summaries.get(n.id)?.http ?? undefined,
      })),
      groups,
      stopped,
    }
  })

/** The report as text: a summary line, the node table, the group table. */
export const render = (r: StatusReport): string => {
  const leaderless = r.groups.filter((g) => g.leader === undefined).length
  const summary = `cluster ${r.cluster}: ${r.nodes.length} node(s), ${r.groups.length} group(s), shard map v${r.mapVersion}${leaderless > 0 ? `, ${leaderless} without a leader` : ""}`
  const nodes = table(
    ["NODE", "NAME", "STATE", "HEALTH", "READY", "REPLICAS", "LEADS", "HTTP"],
    r.nodes.map((n) => [
      `n${n.id}`,
      n.name,
      n.state,
      n.health ?? "(no answer)",
      n.ready ?? "(no answer)",
      String(n.replicas),
      n.leads === undefined ? "(no answer)" : String(n.leads),
      n.http ?? "-",
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
  const stopped = (r.stopped ?? []).map((s) => `  group ${s.group} on n${s.node}: ${s.reason}`)
  const stoppedText =
    stopped.length === 0 ? "" : `\n\nstopped replicas (until their node restarts):\n${stopped.join("\n")}`
  return `${summary}${stopped.length > 0 ? `, ${stopped.length} stopped replica(s)` : ""}\n\n${nodes}\n\n${groups}${stoppedText}`
}
