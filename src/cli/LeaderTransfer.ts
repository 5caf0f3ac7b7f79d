/**
 * `flotilla group transfer-leader GROUP --to NODE` (docs/decisions/0107): asks the group's
 * current leader, on its OPERATOR admin subject (`<root>.op.admin.<node>`, NodeAdmin.ts), to
 * hand leadership to NODE's replica, then watches NODE's replica until it leads or the time
 * is up. Refused before anything is sent when the group is unknown, NODE holds no voter of it,
 * no leader can be found, or a placement operator is in flight on the group (the two would
 * fight over the same group).
 *
 * The placement planner may later move leadership again to balance leaders across nodes.
 */
import { Clock, Effect, Either, Schema } from "effect"
import type { CallError } from "../client/ClientErrors.js"
import type { RouterService } from "../client/Router.js"
import { describeOperator } from "../meta/Operator.js"
import { type NodeId, nodeOfReplica } from "../raft/Ids.js"
import type { BusService } from "../transport/Bus.js"
import { describeError } from "./Failure.js"
import { type AdminReplica, replicaOn } from "./GroupStatus.js"

/** The outcome of a transfer that happened (or had nothing to do). */
export interface TransferResult {
  readonly group: number
  /** The node that led before. */
  readonly from: number
  /** The node that leads now. */
  readonly to: number
  readonly term: number
  /** Milliseconds until the new leader was seen. */
  readonly ms: number
  /** True when NODE led already: nothing was asked. */
  readonly already: boolean
}

const AdminAnswer = Schema.Struct({
  ok: Schema.Boolean,
  error: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String),
})
const decodeAnswer = Schema.decodeUnknownEither(Schema.parseJson(AdminAnswer))
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Between two looks at the target replica. */
const POLL_MS = 100

/** The leader's node and its replica, asking each voter's node what its replica sees. */
const findLeader = (router: RouterService, bus: BusService, group: number, nodes: ReadonlyArray<number>) =>
  Effect.map(
    Effect.forEach(nodes, (n) => replicaOn(bus, router.subjects.admin(n as NodeId), group), {
      concurrency: "unbounded",
    }),
    (seen) => {
      let best: { node: number; replica: AdminReplica } | undefined
      seen.forEach((r, i) => {
        if (typeof r !== "object" || !r.isLeader || r.stopped !== undefined) return
        if (best === undefined || r.term > best.replica.term) best = { node: nodes[i]!, replica: r }
      })
      return best
    },
  )

/** Checks the request against the shard map and the operators; the target replica and the voters' nodes. */
const check = (router: RouterService, group: number, to: number) =>
  Effect.gen(function* () {
    const map = yield* router.refresh()
    const record = map.groups.get(group)
    if (record === undefined)
      return yield* Effect.fail(new Error(`no group ${group} in the shard map (version ${map.version})`))
    const voters = record.replicas.filter((r) => r.role === "voter")
    const target = voters.find((r) => nodeOfReplica(r.id) === to)
    if (target === undefined) {
      const on = voters.map((r) => nodeOfReplica(r.id)).join(", ")
      return yield* Effect.fail(
        new Error(`node ${to} holds no voter of group ${group} (its voters are on nodes ${on})`),
      )
    }
    const ops = yield* router.meta({ _tag: "GetOperators", history: false })
    const busy = ops._tag === "OperatorList" ? ops.inFlight.find((o) => o.spec.group === group) : undefined
    if (busy !== undefined)
      return yield* Effect.fail(
        new Error(
          `group ${group} has placement operator ${busy.id} in flight (${describeOperator(busy.spec)}); retry once it ends`,
        ),
      )
    return { target: target.id as number, nodes: voters.map((r) => nodeOfReplica(r.id) as number) }
  })

/** Waits until node `to`'s replica of `group` leads; its term, or undefined at `deadline`. */
const awaitLeader = (router: RouterService, bus: BusService, group: number, to: number, deadline: number) =>
  Effect.gen(function* () {
    for (;;) {
      const r = yield* replicaOn(bus, router.subjects.admin(to as NodeId), group)
      if (typeof r === "object" && r.isLeader) return r.term
      if ((yield* Clock.currentTimeMillis) + POLL_MS > deadline) return undefined
      yield* Effect.sleep(POLL_MS)
    }
  })

/** See the module comment; fails with a one-line reason. */
export const transferLeader = (
  router: RouterService,
  bus: BusService,
  group: number,
  to: number,
  timeoutMs: number,
): Effect.Effect<TransferResult, CallError | Error> =>
  Effect.gen(function* () {
    const started = yield* Clock.currentTimeMillis
    const { target, nodes } = yield* check(router, group, to)
    const leader = yield* findLeader(router, bus, group, nodes)
    if (leader === undefined)
      return yield* Effect.fail(
        new Error(`group ${group} has no leader its voters agree on now; retry shortly`),
      )
    if (leader.node === to) return { group, from: to, to, term: leader.replica.term, ms: 0, already: true }
    const request = { op: "transfer-leader", group, to: target }
    const bytes = yield* bus
      .request(
        router.subjects.adminOperator(leader.node as NodeId),
        encoder.encode(JSON.stringify(request)),
        {
          timeout: "5 seconds",
        },
      )
      .pipe(
        Effect.mapError(
          (e) => new Error(`node ${leader.node} did not take the request: ${describeError(e)}`),
        ),
      )
    const answer = Either.getOrUndefined(decodeAnswer(decoder.decode(bytes)))
    if (answer === undefined || !answer.ok)
      return yield* Effect.fail(
        new Error(
          `node ${leader.node} refused the transfer: ${answer?.error ?? "unreadable answer"}${answer?.message ? `: ${answer.message}` : ""}`,
        ),
      )
    const term = yield* awaitLeader(router, bus, group, to, started + timeoutMs)
    if (term === undefined) {
      const now = yield* findLeader(router, bus, group, nodes)
      return yield* Effect.fail(
        new Error(
          `node ${to} did not take the lead of group ${group} within ${timeoutMs} ms (leader now: ${now === undefined ? "none seen" : `node ${now.node}`})`,
        ),
      )
    }
    const ms = (yield* Clock.currentTimeMillis) - started
    return { group, from: leader.node, to, term, ms, already: false }
  })
