/**
 * What `flotilla group status` prints: for one group, or every group of a keyspace, its
 * replicas as the metadata group records them (node, replica id, voter / learner / joining)
 * and, from each replica's node (its admin endpoint, NodeAdmin.ts), what that replica sees:
 * whether it leads, its term, commit and applied index, its last log index, and why it stopped
 * if it did. A node that does not answer is shown as such; the record is shown anyway.
 */
import { Effect, Either, Schema } from "effect"
import type { CallError } from "../client/ClientErrors.js"
import type { RouterService } from "../client/Router.js"
import type { GroupRecord } from "../meta/ClusterState.js"
import type { ShardMapIndex } from "../meta/ShardMapIndex.js"
import { type NodeId, nodeOfReplica } from "../raft/Ids.js"
import type { BusService } from "../transport/Bus.js"
import { table } from "./Table.js"

/** A replica as its node's admin endpoint reports it (the fields used here). */
export const AdminReplica = Schema.Struct({
  groupId: Schema.Number,
  replicaId: Schema.Number,
  isLeader: Schema.Boolean,
  /** The replica it believes leads (0: none known). */
  leader: Schema.Number,
  term: Schema.Number,
  commit: Schema.Number,
  applied: Schema.Number,
  lastIndex: Schema.Number,
  stopped: Schema.optional(Schema.String),
})
/** See `AdminReplica`. */
export type AdminReplica = typeof AdminReplica.Type

const GroupAnswer = Schema.Union(
  Schema.Struct({ ok: Schema.Literal(true), group: AdminReplica }),
  Schema.Struct({ ok: Schema.Literal(false), error: Schema.String, message: Schema.String }),
)
const StatusPage = Schema.Struct({
  ok: Schema.Literal(true),
  groups: Schema.Array(AdminReplica),
  next: Schema.optional(Schema.Number),
})
const decodeGroupAnswer = Schema.decodeUnknownEither(Schema.parseJson(GroupAnswer))
const decodeStatusPage = Schema.decodeUnknownEither(Schema.parseJson(StatusPage))

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** How long one admin request may take. */
const ADMIN_TIMEOUT = "2 seconds"

/**
 * Node `node`'s replica of `group`: the replica, "absent" when the node hosts none, or
 * undefined when the node did not answer.
 */
export const replicaOn = (
  bus: BusService,
  subject: string,
  group: number,
): Effect.Effect<AdminReplica | "absent" | undefined> =>
  bus
    .request(subject, encoder.encode(JSON.stringify({ op: "group", group })), { timeout: ADMIN_TIMEOUT })
    .pipe(
      Effect.map((bytes) => {
        const answer = Either.getOrUndefined(decodeGroupAnswer(decoder.decode(bytes)))
        if (answer === undefined) return undefined
        if (answer.ok) return answer.group
        return answer.error === "GroupNotFound" ? "absent" : undefined
      }),
      Effect.orElseSucceed(() => undefined),
    )

/** Every replica a node hosts among `wanted`, read page after page; undefined if it did not answer. */
const pagedReplicasOn = (bus: BusService, subject: string, wanted: ReadonlySet<number>) =>
  Effect.gen(function* () {
    const found = new Map<number, AdminReplica>()
    let after: number | undefined
    for (;;) {
      const request = { op: "status", ...(after !== undefined ? { after } : {}) }
      const bytes = yield* bus.request(subject, encoder.encode(JSON.stringify(request)), {
        timeout: ADMIN_TIMEOUT,
      })
      const page = Either.getOrUndefined(decodeStatusPage(decoder.decode(bytes)))
      if (page === undefined) return undefined
      for (const g of page.groups) if (wanted.has(g.groupId)) found.set(g.groupId, g)
      if (page.next === undefined || page.next <= (after ?? -1)) return found
      after = page.next
    }
  }).pipe(Effect.orElseSucceed(() => undefined))

/**
 * The replicas a node hosts among `wanted`, by group; undefined if it did not answer. One
 * group: one small `group` request; several: the node's `status` pages, read once.
 */
const replicasOn = (
  bus: BusService,
  subject: string,
  wanted: ReadonlySet<number>,
): Effect.Effect<ReadonlyMap<number, AdminReplica> | undefined> => {
  if (wanted.size !== 1) return pagedReplicasOn(bus, subject, wanted)
  const group = [...wanted][0]!
  return Effect.map(replicaOn(bus, subject, group), (r) =>
    r === undefined ? undefined : new Map(r === "absent" ? [] : [[group, r]]),
  )
}

/** One replica of a group: the record, and what its node says (absent when it did not answer). */
export interface ReplicaRow {
  readonly replica: number
  readonly node: number
  readonly role: string
  /** "leader", "follower", "not hosted", "no answer", or "stopped: <why>". */
  readonly state: string
  readonly term?: number
  readonly commit?: number
  readonly applied?: number
  readonly lastIndex?: number
}

/** One group. */
export interface GroupReport {
  readonly group: number
  /** "(meta)" for the metadata group. */
  readonly keyspace: string
  /** Its hash slots, "first-last" ("-" for the metadata group). */
  readonly slots: string
  /** The node whose replica says it leads (highest term), if any. */
  readonly leader: number | undefined
  readonly term: number | undefined
  readonly replicas: ReadonlyArray<ReplicaRow>
}

/** The answer of `flotilla group status`. */
export interface GroupStatusReport {
  readonly mapVersion: number
  readonly groups: ReadonlyArray<GroupReport>
}

/** Which groups to show: one, or every group of a keyspace. */
export type GroupSelection = { readonly group: number } | { readonly keyspace: string }

/** The groups `selection` names in `map`, or why there are none. */
export const selectGroups = (
  map: ShardMapIndex,
  selection: GroupSelection,
): ReadonlyArray<GroupRecord> | string => {
  if ("group" in selection) {
    const g = map.groups.get(selection.group)
    return g === undefined ? `no group ${selection.group} in the shard map (version ${map.version})` : [g]
  }
  const shards = map.keyspaces.get(selection.keyspace)
  if (shards === undefined)
    return `no keyspace "${selection.keyspace}" in the shard map (version ${map.version})`
  return shards.flatMap((s) => map.groups.get(s.group) ?? [])
}

const rowOf = (r: GroupRecord["replicas"][number], seen: AdminReplica | "absent" | undefined): ReplicaRow => {
  const base = { replica: r.id as number, node: nodeOfReplica(r.id) as number, role: r.role as string }
  if (seen === undefined) return { ...base, state: "no answer" }
  if (seen === "absent" || seen.replicaId !== r.id) return { ...base, state: "not hosted" }
  const state =
    seen.stopped !== undefined ? `stopped: ${seen.stopped}` : seen.isLeader ? "leader" : "follower"
  return {
    ...base,
    state,
    term: seen.term,
    commit: seen.commit,
    applied: seen.applied,
    lastIndex: seen.lastIndex,
  }
}

/** One group's report from its record and what each replica's node said (undefined: no answer). */
export const reportOf = (
  map: ShardMapIndex,
  g: GroupRecord,
  seen: (node: number) => AdminReplica | "absent" | undefined,
): GroupReport => {
  const shard = map.shards.get(g.id)
  const replicas = g.replicas.map((r) => rowOf(r, seen(nodeOfReplica(r.id))))
  let lead: ReplicaRow | undefined
  for (const r of replicas)
    if (r.state === "leader" && (lead === undefined || (r.term ?? 0) > (lead.term ?? 0))) lead = r
  return {
    group: g.id,
    keyspace: g.id === 0 ? "(meta)" : (shard?.keyspace ?? g.keyspace),
    slots: shard === undefined ? "-" : `${shard.start}-${shard.end - 1}`,
    leader: lead?.node,
    term: lead?.term,
    replicas,
  }
}

/** Gathers the report: the shard map through `router`, the replicas through each node's admin endpoint. */
export const gather = (
  router: RouterService,
  bus: BusService,
  selection: GroupSelection,
): Effect.Effect<GroupStatusReport, CallError | Error> =>
  Effect.gen(function* () {
    const map = yield* router.refresh()
    const groups = selectGroups(map, selection)
    if (typeof groups === "string") return yield* Effect.fail(new Error(groups))
    const wanted = new Map<number, Set<number>>()
    for (const g of groups)
      for (const r of g.replicas) {
        const node = nodeOfReplica(r.id) as number
        if (!wanted.has(node)) wanted.set(node, new Set())
        wanted.get(node)!.add(g.id)
      }
    const answers = new Map(
      yield* Effect.forEach(
        wanted,
        ([node, ids]) =>
          Effect.map(
            replicasOn(bus, router.subjects.admin(node as NodeId), ids),
            (found) => [node, found] as const,
          ),
        { concurrency: 16 },
      ),
    )
    const seen = (g: number) => (node: number) => {
      const found = answers.get(node)
      return found === undefined ? undefined : (found.get(g) ?? "absent")
    }
    return { mapVersion: map.version, groups: groups.map((g) => reportOf(map, g, seen(g.id))) }
  })

const num = (n: number | undefined) => (n === undefined ? "-" : String(n))

/** The report as text: one line per group, then a table of every replica. */
export const render = (r: GroupStatusReport): string => {
  const heads = r.groups.map(
    (g) =>
      `group ${g.group} (${g.keyspace}, slots ${g.slots}): ${g.leader === undefined ? "no leader seen" : `leader n${g.leader}, term ${g.term}`}`,
  )
  const rows = r.groups.flatMap((g) =>
    g.replicas.map((x) => [
      String(g.group),
      `n${x.node}`,
      String(x.replica),
      x.role,
      x.state,
      num(x.term),
      num(x.commit),
      num(x.applied),
      num(x.lastIndex),
    ]),
  )
  return [
    ...heads,
    "",
    table(["GROUP", "NODE", "REPLICA", "ROLE", "STATE", "TERM", "COMMIT", "APPLIED", "LAST"], rows),
  ].join("\n")
}
