/**
 * A node's admin endpoint on `flotilla.<c>.cli.admin.<node>` (read-only requests: `status`,
 * `group`, `summary`, `read`; anything else is refused there as `Forbidden`) and
 * `flotilla.<c>.op.admin.<node>` (every request): JSON requests, JSON replies, for the
 * `flotilla status` command, operators and tests. Every request is Schema-validated; a bad one
 * gets `{"ok":false,"error":"BadRequest","message":...}` and changes nothing.
 *
 * Requests (`op`):
 * - `status`: `{ after?: groupId }` → the hosted replicas (`GroupStatus`) with group ids above
 *   `after`, in id order, and the node's counters. An answer holds at most `STATUS_PAGE_BYTES`
 *   of replicas; when some are left it says `next` (ask again with `after: next`);
 * - `group`: `{ group }` → this node's replica of one group (`GroupStatus`), or
 *   `GroupNotFound` when it hosts none (for `flotilla group status|transfer-leader`);
 * - `summary`: counts only (groups, leaders, groups without a known leader, quiesced, stopped,
 *   with the first stopped group and its reason), the counters, and the node's vitals
 *   (NodeVitals.ts: health, readiness, HTTP address, CPU, memory, throughput counters) — small
 *   enough for nodes with tens of thousands of groups;
 * - `read`: `{ group, query?: base64, stale?: boolean }` → the state machine's reply, base64;
 * - `transfer-leader`: `{ group, to: replicaId }`;
 * - `conf-change`: `{ group, changes: [{ type: "add-voter" | "remove" | "add-learner", replica }],
 *   transition?: "auto" | "joint" | "joint-explicit" }` on the group's leader; answered once the
 *   change is applied there (an empty `changes` leaves a joint configuration).
 */
import { Effect, Either, Layer, Option, ParseResult, Schema } from "effect"
import { ConfChangeTransition, ConfChangeType, confChange } from "../raft/ConfChange.js"
import type { GroupId, NodeId } from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"
import { Node } from "../runtime/Node.js"
import { Bus } from "../transport/Bus.js"
import { clusterSubjects } from "../transport/Subjects.js"
import { serveBounded } from "./BoundedServe.js"
import { clipMessage, type JsonLimits, parseGuardedJson } from "./JsonGuard.js"
import { NodeObservations } from "./NodeObservations.js"
import { NodeShardMap } from "./NodeShardMap.js"
import type { Vitals } from "./NodeVitals.js"
import * as NodeVitals from "./NodeVitals.js"

export const AdminRequest = Schema.Union(
  Schema.Struct({
    op: Schema.Literal("status"),
    after: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
  }),
  Schema.Struct({ op: Schema.Literal("group"), group: Schema.Int.pipe(Schema.nonNegative()) }),
  Schema.Struct({ op: Schema.Literal("summary") }),
  Schema.Struct({
    op: Schema.Literal("read"),
    group: Schema.Int.pipe(Schema.nonNegative()),
    query: Schema.optional(Schema.String),
    stale: Schema.optional(Schema.Boolean),
  }),
  Schema.Struct({
    op: Schema.Literal("transfer-leader"),
    group: Schema.Int.pipe(Schema.nonNegative()),
    to: Schema.Int.pipe(Schema.positive()),
  }),
  Schema.Struct({
    op: Schema.Literal("conf-change"),
    group: Schema.Int.pipe(Schema.nonNegative()),
    /** Empty: leave the joint configuration. */
    changes: Schema.Array(
      Schema.Struct({
        type: Schema.Literal("add-voter", "remove", "add-learner"),
        replica: Schema.Int.pipe(Schema.positive()),
      }),
    ),
    /** "auto" (default): joint when several voters change; "joint": joint, left automatically. */
    transition: Schema.optional(Schema.Literal("auto", "joint", "joint-explicit")),
  }),
)
export type AdminRequest = Schema.Schema.Type<typeof AdminRequest>

/**
 * The admin subject of `node` of class `c`: "client" (the default) takes the read-only
 * requests (`status`, `group`, `summary`, `read`), "operator" every request.
 */
export const adminSubject = (
  cluster: string,
  node: number,
  prefix?: string,
  c: "client" | "operator" = "client",
): string => {
  const subjects = clusterSubjects(cluster, prefix)
  return c === "client" ? subjects.admin(node as NodeId) : subjects.adminOperator(node as NodeId)
}

/** The requests a client may make on the client admin subject. */
const READ_ONLY_OPS: ReadonlySet<AdminRequest["op"]> = new Set(["status", "group", "summary", "read"])

/** The JSON bytes of replicas one `status` answer carries at most (NATS allows 1 MiB). */
export const STATUS_PAGE_BYTES = 512 * 1024

/** The longest prefix of `items` within `maxBytes` of JSON (at least one item). */
const takeWithin = <A>(items: ReadonlyArray<A>, maxBytes: number): ReadonlyArray<A> => {
  let bytes = 1
  let n = 0
  for (const item of items) {
    bytes += JSON.stringify(item).length + 1
    if (n > 0 && bytes > maxBytes) break
    n++
  }
  return n === items.length ? items : items.slice(0, n)
}

/** Limits checked before an admin request is parsed (the largest, a conf change, is small). */
export const ADMIN_REQUEST_LIMITS: JsonLimits = { maxBytes: 64 * 1024, maxDepth: 8 }

const encoder = new TextEncoder()
const json = (v: unknown) => encoder.encode(JSON.stringify(v))
const decodeAdmin = Schema.decodeUnknownEither(AdminRequest)

/** An admin request from its bytes, or a message saying why not (quoting ~200 bytes at most). NEVER throws. */
export const decodeAdminRequest = (data: Uint8Array): Either.Either<AdminRequest, string> => {
  const parsed = parseGuardedJson(data, ADMIN_REQUEST_LIMITS)
  if (Either.isLeft(parsed)) return Either.left(`invalid admin request: ${parsed.left.message}`)
  return Either.mapLeft(decodeAdmin(parsed.right), (e) => {
    const issue = ParseResult.ArrayFormatter.formatErrorSync(e)[0]
    const where =
      issue === undefined || issue.path.length === 0 ? "" : ` at ${issue.path.map(String).join(".")}`
    return clipMessage(`invalid admin request${where}: ${issue?.message ?? "malformed"}`)
  })
}

const handle = (
  node: Node["Type"],
  data: Uint8Array,
  statusPageBytes: number,
  vitals: Effect.Effect<Vitals | undefined>,
  arrivedOn: "client" | "operator",
) =>
  Effect.gen(function* () {
    const parsed = decodeAdminRequest(data)
    if (parsed._tag === "Left") return { ok: false, error: "BadRequest", message: parsed.left }
    const req = parsed.right
    if (arrivedOn === "client" && !READ_ONLY_OPS.has(req.op))
      return {
        ok: false,
        error: "Forbidden",
        message: `${req.op} is an operator request: it is only taken on the operator admin subject`,
      }
    switch (req.op) {
      case "status": {
        const after = req.after ?? -1
        const groups = (yield* node.groups)
          .filter((g) => g.groupId > after)
          .sort((a, b) => a.groupId - b.groupId)
        const page = takeWithin(groups, statusPageBytes)
        const next = page.length < groups.length ? page.at(-1)?.groupId : undefined
        return {
          ok: true,
          node: node.nodeId,
          groups: page,
          stats: yield* node.stats,
          ...(next !== undefined ? { next } : {}),
        }
      }
      case "group": {
        const st = yield* node.status(req.group as GroupId)
        return Option.isSome(st)
          ? { ok: true, node: node.nodeId, group: st.value }
          : {
              ok: false,
              error: "GroupNotFound",
              message: `node ${node.nodeId} hosts no replica of group ${req.group}`,
            }
      }
      case "summary": {
        const groups = yield* node.groups
        let leaders = 0
        let leaderless = 0
        let quiesced = 0
        let stopped = 0
        let firstStopped: { group: number; reason: string } | undefined
        for (const g of groups) {
          if (g.isLeader) leaders++
          if (g.leaderNode === undefined) leaderless++
          if (g.quiesced) quiesced++
          if (g.stopped !== undefined) {
            stopped++
            firstStopped ??= { group: g.groupId, reason: g.stopped }
          }
        }
        return {
          ok: true,
          node: node.nodeId,
          groups: groups.length,
          leaders,
          leaderless,
          quiesced,
          stopped,
          ...(firstStopped !== undefined ? { firstStopped } : {}),
          stats: yield* node.stats,
          ...(yield* vitals),
        }
      }
      case "read": {
        const query = req.query === undefined ? new Uint8Array(0) : Buffer.from(req.query, "base64")
        const r = yield* Effect.either(node.read(req.group as GroupId, query, { stale: req.stale ?? true }))
        if (r._tag === "Left") return { ok: false, error: r.left._tag, message: r.left.message }
        const st = yield* node.status(req.group as GroupId)
        return {
          ok: true,
          reply: Buffer.from(r.right).toString("base64"),
          applied: Option.isSome(st) ? st.value.applied : undefined,
        }
      }
      case "conf-change": {
        const types = {
          "add-voter": ConfChangeType.AddNode,
          remove: ConfChangeType.RemoveNode,
          "add-learner": ConfChangeType.AddLearner,
        }
        const transition = {
          auto: ConfChangeTransition.Auto,
          joint: ConfChangeTransition.JointImplicit,
          "joint-explicit": ConfChangeTransition.JointExplicit,
        }
        const cc = confChange(
          req.changes.map((c) => ({ type: types[c.type], nodeId: c.replica as ReplicaId })),
          transition[req.transition ?? "auto"],
        )
        const r = yield* Effect.either(node.proposeConfChange(req.group as GroupId, cc))
        if (r._tag === "Left") {
          const e = r.left
          return { ok: false, error: e._tag, message: "message" in e ? e.message : e.reason }
        }
        return { ok: true }
      }
      case "transfer-leader": {
        const r = yield* Effect.either(node.transferLeader(req.group as GroupId, req.to as ReplicaId))
        return r._tag === "Left" ? { ok: false, error: r.left._tag, message: r.left.message } : { ok: true }
      }
    }
  })

/** Serves the admin subject of the node in context for the layer's lifetime. */
export const layer = (options: {
  readonly cluster: string
  readonly subjectPrefix?: string
  /** The JSON bytes of replicas per `status` answer (default `STATUS_PAGE_BYTES`). */
  readonly statusPageBytes?: number
}) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const node = yield* Node
      const bus = yield* Bus
      const observations = yield* Effect.serviceOption(NodeObservations)
      const map = yield* Effect.serviceOption(NodeShardMap)
      const vitals =
        Option.isSome(observations) && Option.isSome(map)
          ? NodeVitals.vitals(node, observations.value, map.value)
          : Effect.succeed(undefined)
      // One endpoint per permission class: mutations are taken on the operator subject only.
      for (const c of ["client", "operator"] as const) {
        yield* serveBounded(
          bus,
          adminSubject(options.cluster, node.nodeId, options.subjectPrefix, c),
          { concurrency: 16, maxPending: 256 },
          {
            name: `admin endpoint (${c})`,
            handle: (data) =>
              Effect.map(handle(node, data, options.statusPageBytes ?? STATUS_PAGE_BYTES, vitals, c), json),
            overloaded: () =>
              json({
                ok: false,
                error: "Overloaded",
                message: "the admin endpoint is full; retry with backoff",
              }),
            internal: () => json({ ok: false, error: "Internal", message: "the admin endpoint failed" }),
          },
        )
      }
    }),
  )
