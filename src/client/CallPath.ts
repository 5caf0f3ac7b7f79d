/**
 * The router's call path: one routed request, from its shard to its reply (the client's hot
 * path). `route` runs `attempt`s under the retry policy (Retry.ts) until a shard answers or
 * the deadline passes. An attempt:
 *
 * 1. finds the request's group (`groupOf`), fetching the shard map first when there is none
 *    or a reply proved it stale (ClientShardMap.ts);
 * 2. for a stale read, asks a replica first, once per call (ReplicaReads.ts);
 * 3. picks the bytes (`requestBytes`): A COMMAND IS STAMPED ONCE with a session of its shard and
 *    a sequence number (SessionPool.ts), and EVERY RETRY RESENDS THE SAME BYTES, so the shard
 *    applies it at most once; a new stamp only when the command goes to another group or its
 *    session died;
 * 4. sends them to the group subject, where only the leader listens (`send`; concurrent
 *    requests to one group share a message, GroupBatcher.ts; on a node, a group the node leads
 *    is served in-process, `LocalGroups`), and acts on what comes back (`unanswered`, `answered`; ReplyAction.ts, docs/protocol.md "Retries").
 *
 * What a call learns on the way (the last reason, whether a command may have run) stays in its
 * `CallState`, so the error it gives up with says what an earlier attempt found even when the
 * last one only found the deadline: `Unavailable` when nothing can have taken effect,
 * `Timeout` when an attempt went unanswered or its outcome is unknown (ClientErrors.ts).
 */
import { Data, Effect, Either, Option } from "effect"
import * as ShardMapIndex from "../meta/ShardMapIndex.js"
import type { GroupId } from "../raft/Ids.js"
import { type EntityCall, encodeCall } from "../runtime/entity/EntityClient.js"
import * as Wire from "../runtime/entity/Wire.js"
import { type BusService, type RequestError, RequestTimeout } from "../transport/Bus.js"
import type { ClusterSubjects } from "../transport/Subjects.js"
import { type CallError, Timeout, Unavailable } from "./ClientErrors.js"
import type { ClientSession } from "./ClientSession.js"
import type { ClientShardMap } from "./ClientShardMap.js"
import type { GroupBatcher } from "./GroupBatcher.js"
import { DEADLINE_PASSED } from "./MetaClient.js"
import { readFromReplica } from "./ReplicaReads.js"
import { actionOf, type ReplyAction } from "./ReplyAction.js"
import * as Retry from "./Retry.js"
import type { MutableRouterStats } from "./RouterStats.js"
import { type SessionPool, take } from "./SessionPool.js"

/** The groups a node leads, served in-process (the node's `leads` and `request`). */
export interface LocalGroups {
  readonly leads: (group: GroupId) => boolean
  /**
   * Serves one request as the group subject would and calls `answer` once with the reply;
   * answers every request. A callback, not an effect: the call path waits for it under a plain
   * timer rather than a racing fiber (every in-process request takes this path).
   */
  readonly serve: (group: GroupId, bytes: Uint8Array, answer: (reply: Uint8Array) => void) => void
}

/** What the call path needs of its router (Router.ts builds it). */
export interface RouterCore {
  readonly bus: BusService
  /** Group requests go through it: concurrent ones to one group share a message. */
  readonly batcher: GroupBatcher
  /** Groups served in-process, without a bus round trip (undefined: none). */
  readonly localGroups: LocalGroups | undefined
  readonly subjects: ClusterSubjects
  /** How long one request waits for its reply before it is resent. */
  readonly attemptTimeoutMs: number
  readonly backoff: Retry.Backoff
  /** Exactly-once sessions for commands; undefined: commands go without (session 0). */
  readonly sessions: SessionPool | undefined
  /** Stale reads ask a replica first. */
  readonly replicaReads: boolean
  readonly shardMap: ClientShardMap
  readonly stats: MutableRouterStats
  /** The keyspace of a call of `kind`, `explicit` when the caller named one. */
  readonly keyspaceOf: (kind: string, explicit: string | undefined) => string
}

/** One routed request: where it goes and how its bytes are made. */
export interface RouteSpec {
  readonly operation: string
  /** The entity kind (its keyspace comes from the shard map)... */
  readonly kind: string
  /** ...unless named here. */
  readonly keyspace: string | undefined
  /** Route by slot through the shard map... */
  readonly slot?: number
  /** ...or straight to a group. */
  readonly group?: GroupId
  /** Fixed request bytes (reads, session opens, commands without sessions). */
  readonly bytes?: Uint8Array
  /** A command to stamp with a session of its shard. */
  readonly command?: EntityCall
  /** A stale read: try a random replica first. */
  readonly staleRead?: boolean
  readonly deadlineMs: number
}

/** A command stamped for one group: the bytes every retry resends. */
interface Stamp {
  readonly group: GroupId
  readonly session: ClientSession
  readonly seq: number
  readonly bytes: Uint8Array
}

/** An attempt's "wait, then try again" (what it learnt is in its call's state). */
class RetryLater extends Data.TaggedError("RetryLater") {}

const retryLater: Effect.Effect<never, RetryLater> = Effect.fail(new RetryLater())

const isRetryLater = (e: CallError | RetryLater): e is RetryLater => e._tag === "RetryLater"

/** What one call has learnt across its attempts. */
class CallState {
  /** Requests sent. */
  attempts = 0
  /** An attempt went unanswered or its outcome is unknown: a command may have run. */
  uncertain = false
  /** The last thing that went wrong. */
  reason = "the deadline passed before any request was sent"
  /** The shard map is known stale: fetch a newer one before routing. */
  forceRefresh = false
  /** An attempt went to a replica this process leads (`LocalGroups`): later ones take the bus. */
  triedLocal = false
  /** The replica path of a stale read was taken (or does not apply). */
  triedReplica: boolean
  stamp: Stamp | undefined = undefined

  constructor(
    readonly spec: RouteSpec,
    /** Clock milliseconds. */
    readonly deadlineAt: number,
    replicaReads: boolean,
  ) {
    this.triedReplica = !(spec.staleRead === true && replicaReads)
  }

  /** The error to give up with now: `why`, else the last reason learnt. */
  giveUp(why?: string): CallError {
    const reason = why ?? this.reason
    const { operation, deadlineMs } = this.spec
    return this.uncertain
      ? new Timeout({ operation, deadlineMs, attempts: this.attempts, reason })
      : new Unavailable({ operation, attempts: this.attempts, reason })
  }

  /** Gives the stamp's sequence number back to its session: these bytes will not be resent. */
  release(): void {
    if (this.stamp !== undefined) this.stamp.session.finish(this.stamp.seq)
    this.stamp = undefined
  }
}

/**
 * Sends `spec` to its shard and returns the shard's reply bytes (success, declared failure or
 * `EntityError`, for the caller to decode), retrying until its deadline (see the module comment).
 */
export const route = (core: RouterCore, spec: RouteSpec): Effect.Effect<Uint8Array, CallError> =>
  Effect.clockWith((clock) => {
    const call = new CallState(spec, clock.unsafeCurrentTimeMillis() + spec.deadlineMs, core.replicaReads)
    return firstAttempt(core, call) ?? retrying(core, call, attempt(core, call))
  })

/**
 * The attempts of `call` under the retry policy, the first of which is `first` (an attempt
 * made already, or to make); the stamp is released at the end.
 */
const retrying = (
  core: RouterCore,
  call: CallState,
  first: Effect.Effect<Uint8Array, CallError | RetryLater>,
): Effect.Effect<Uint8Array, CallError> => {
  let next: Effect.Effect<Uint8Array, CallError | RetryLater> | undefined = first
  const attempts = Effect.suspend(() => {
    const a = next ?? attempt(core, call)
    next = undefined
    return a
  })
  return Retry.run(attempts, {
    backoff: core.backoff,
    deadlineAt: call.deadlineAt,
    retryable: isRetryLater,
    onExpiry: () => call.giveUp(),
    onWait: () =>
      Effect.sync(() => {
        core.stats.retries++
      }),
  }).pipe(Effect.ensuring(Effect.sync(() => call.release())))
}

/**
 * THE HOT PATH: the first attempt of a call whose route is known without waiting — the shard
 * map holds its group, a command's session is open with room in its window, no replica read
 * comes first — taken in one step to the bus and one back. Any other outcome than a `Done`
 * reply goes on as the general path would after its first attempt (`retrying`); undefined when
 * the route is not known without waiting (the general path takes the call from the top).
 */
const firstAttempt = (
  core: RouterCore,
  call: CallState,
): Effect.Effect<Uint8Array, CallError> | undefined => {
  const spec = call.spec
  if (!call.triedReplica || spec.deadlineMs <= 0) return undefined
  let group = spec.group
  if (group === undefined) {
    const map = core.shardMap.view()
    if (map.version === 0) return undefined
    group = ShardMapIndex.groupOfSlot(map, core.keyspaceOf(spec.kind, spec.keyspace), spec.slot ?? 0)
    if (group === undefined) return undefined
  }
  const bytes = stampNow(core, call, group)
  if (bytes === undefined) return undefined
  const { request, waitMs } = send(core, call, group, bytes, spec.deadlineMs)
  return Effect.onInterrupt(
    Effect.matchEffect(request, {
      onSuccess: (reply) => {
        const action = actionOf(reply)
        if (action._tag !== "Done") return retrying(core, call, answered(core, call, reply, action))
        call.release()
        return Effect.succeed(reply)
      },
      onFailure: (e) => retrying(core, call, unanswered(core, call, group, e, waitMs)),
    }),
    () => Effect.sync(() => call.release()),
  )
}

/** The bytes of `call` for `group` when no wait is needed to make them (`requestBytes`). */
const stampNow = (core: RouterCore, call: CallState, group: GroupId): Uint8Array | undefined => {
  const { command, bytes } = call.spec
  if (command === undefined) return bytes
  if (core.sessions === undefined) return bytes ?? encodeCall(command)
  const session = core.sessions.current(group, call.spec.kind)
  // Callers waiting for room in the window go first (SessionPool.take).
  if (session === undefined || session.waiting > 0) return undefined
  const ticket = session.tryTake()
  if (ticket === undefined) return undefined
  const stamped = encodeCall(command, { session: session.id, ...ticket })
  call.stamp = { group, session, seq: ticket.seq, bytes: stamped }
  return stamped
}

/** One attempt, from the top; `RetryLater` to wait and try again. */
const attempt = (core: RouterCore, call: CallState): Effect.Effect<Uint8Array, CallError | RetryLater> =>
  Effect.gen(function* () {
    if ((yield* Retry.remaining(call.deadlineAt)) <= 0) return yield* Effect.fail(call.giveUp())
    const group = yield* groupOf(core, call)
    if (!call.triedReplica && call.spec.bytes !== undefined) {
      call.triedReplica = true
      const record = core.shardMap.view().groups.get(group)
      const read = yield* readFromReplica(core, group, record, call.spec.bytes, call.deadlineAt)
      if (Option.isSome(read)) {
        core.stats.replicaReads++
        if (actionOf(read.value)._tag === "Done") return read.value
      }
    }
    const bytes = yield* requestBytes(core, call, group)
    // The session died while the command waited for room in its window: start over.
    if (bytes === undefined) return yield* attempt(core, call)
    return yield* sendAndAct(core, call, group, bytes)
  })

/** The group of the request: its own, or the slot's in the shard map (fetched when needed). */
const groupOf = (core: RouterCore, call: CallState): Effect.Effect<GroupId, RetryLater> =>
  Effect.gen(function* () {
    const spec = call.spec
    if (spec.group !== undefined) return spec.group
    const map = core.shardMap
    if (map.view().version === 0 || call.forceRefresh) {
      const forced = call.forceRefresh
      call.forceRefresh = false
      const r = yield* Effect.either(
        map.refreshFrom(forced ? map.view().version : 0, forced, call.deadlineAt),
      )
      if (Either.isLeft(r)) {
        // Keep what an earlier attempt learnt ("no metadata leader answers") over "too late".
        if (r.left.reason !== DEADLINE_PASSED || !call.reason.startsWith("no shard map"))
          call.reason = `no shard map: ${r.left.reason}`
        return yield* retryLater
      }
    }
    const keyspace = core.keyspaceOf(spec.kind, spec.keyspace)
    const group = ShardMapIndex.groupOfSlot(map.view(), keyspace, spec.slot ?? 0)
    if (group !== undefined) return group
    call.reason = `the shard map (version ${map.view().version}) has no keyspace "${keyspace}" for kind "${spec.kind}"`
    call.forceRefresh = true
    return yield* retryLater
  })

/**
 * The bytes for `group`: fixed, or the command stamped once with a session of the group;
 * undefined when the session died while the command waited for room in its window.
 */
const requestBytes = (
  core: RouterCore,
  call: CallState,
  group: GroupId,
): Effect.Effect<Uint8Array | undefined, CallError> =>
  Effect.gen(function* () {
    const { command, bytes } = call.spec
    if (command === undefined) return bytes!
    if (core.sessions === undefined) return bytes ?? encodeCall(command)
    const stamp = call.stamp
    if (stamp !== undefined && stamp.group === group && !stamp.session.dead) return stamp.bytes
    call.release()
    const session = yield* core.sessions
      .sessionOf(group, call.spec.kind, call.deadlineAt, openSession(core, call.spec, group, call.deadlineAt))
      .pipe(Effect.mapError((e) => call.giveUp(e.reason)))
    const ticket = yield* take(session, call.deadlineAt)
    if (ticket === undefined) {
      if (session.dead) return undefined
      return yield* Effect.fail(
        call.giveUp(`the session window of ${core.sessions.window} commands stayed full`),
      )
    }
    const stamped = encodeCall(command, { session: session.id, ...ticket })
    call.stamp = { group, session, seq: ticket.seq, bytes: stamped }
    return stamped
  })

/** Opens a session of `spec.kind` in `group` (a routed request of its own); its id. */
const openSession = (
  core: RouterCore,
  spec: RouteSpec,
  group: GroupId,
  deadlineAt: number,
): Effect.Effect<number, CallError> =>
  Effect.gen(function* () {
    const operation = `${spec.kind}.OpenSession`
    const reply = yield* route(core, {
      operation,
      kind: spec.kind,
      keyspace: spec.keyspace,
      group,
      bytes: Wire.encodeRequest({ type: "openSession", kind: spec.kind }),
      deadlineMs: yield* Retry.remaining(deadlineAt),
    })
    const env = Wire.decodeReply(reply)
    if (Either.isRight(env) && env.right.status === Wire.ReplyStatus.Success) {
      const id = env.right.body
      if (typeof id === "number" && Number.isSafeInteger(id) && id > 0) {
        core.stats.sessionsOpened++
        return id
      }
    }
    const why = Either.isLeft(env) ? env.left : `status ${env.right.status}`
    return yield* Effect.fail(
      new Unavailable({ operation, attempts: 1, reason: `group ${group} did not open a session (${why})` }),
    )
  })

/** Sends `bytes` to `group`'s subject and acts on the outcome. */
const sendAndAct = (
  core: RouterCore,
  call: CallState,
  group: GroupId,
  bytes: Uint8Array,
): Effect.Effect<Uint8Array, CallError | RetryLater> =>
  Effect.flatMap(Retry.remaining(call.deadlineAt), (remaining) => {
    const { request, waitMs } = send(core, call, group, bytes, remaining)
    return Effect.matchEffect(request, {
      onSuccess: (reply) => answered(core, call, reply, actionOf(reply)),
      onFailure: (e) => unanswered(core, call, group, e, waitMs),
    })
  })

/**
 * One request of `call` to `group`, waiting at most the attempt timeout or `remainingMs`
 * (its `waitMs`): to the local replica once per call when this process leads the group (should
 * the hint be stale, the bus finds the leader on the retry), else on the bus through the batcher.
 */
const send = (
  core: RouterCore,
  call: CallState,
  group: GroupId,
  bytes: Uint8Array,
  remainingMs: number,
): { readonly request: Effect.Effect<Uint8Array, RequestError>; readonly waitMs: number } => {
  call.attempts++
  core.stats.attempts++
  const waitMs = Math.max(1, Math.min(core.attemptTimeoutMs, remainingMs))
  const local = !call.triedLocal && core.localGroups?.leads(group) === true ? core.localGroups : undefined
  if (local !== undefined) call.triedLocal = true
  const request =
    local !== undefined
      ? localRequest(core, local, group, bytes, waitMs)
      : core.batcher.send(group, core.subjects.group(group), bytes, waitMs)
  return { request, waitMs }
}

/**
 * A request to a group this process leads, served by its replica without the bus. Should the
 * leadership have moved, the replica answers `NotLeader` and the retry takes the bus.
 */
const localRequest = (
  core: RouterCore,
  local: LocalGroups,
  group: GroupId,
  bytes: Uint8Array,
  waitMs: number,
): Effect.Effect<Uint8Array, RequestTimeout> => {
  core.stats.localRequests++
  return Effect.async<Uint8Array, RequestTimeout>((resume) => {
    let waiting = true
    const timer = setTimeout(() => {
      if (!waiting) return
      waiting = false
      const subject = core.subjects.group(group)
      resume(
        Effect.fail(
          new RequestTimeout({
            subject,
            timeoutMillis: waitMs,
            message: `no local reply within ${waitMs} ms`,
          }),
        ),
      )
    }, waitMs)
    local.serve(group, bytes, (reply) => {
      if (!waiting) return
      waiting = false
      clearTimeout(timer)
      resume(Effect.succeed(reply))
    })
    return Effect.sync(() => {
      waiting = false
      clearTimeout(timer)
    })
  })
}

/** The map may be stale (a rate-limited refresh; failures are ignored: the retry will tell). */
const mapMayBeStale = (core: RouterCore, call: CallState): Effect.Effect<void> =>
  call.spec.group === undefined
    ? Effect.ignore(core.shardMap.refreshFrom(core.shardMap.view().version, false, call.deadlineAt))
    : Effect.void

/** No reply: nobody leads the group ("no responders"), or none came in time (it may have run). */
const unanswered = (
  core: RouterCore,
  call: CallState,
  group: GroupId,
  e: RequestError,
  waitedMs: number,
): Effect.Effect<never, CallError | RetryLater> => {
  switch (e._tag) {
    case "NoResponders":
      core.stats.noResponders++
      call.reason = `no leader answers for group ${group}`
      return Effect.zipRight(mapMayBeStale(core, call), retryLater)
    case "RequestTimeout":
      core.stats.requestTimeouts++
      call.uncertain = true
      call.reason = `group ${group} did not answer within ${waitedMs} ms`
      return retryLater
    default:
      return Effect.fail(call.giveUp(e.message))
  }
}

/** A reply: hand it over, retry (now or later), or give up (ReplyAction.ts). */
const answered = (
  core: RouterCore,
  call: CallState,
  reply: Uint8Array,
  action: ReplyAction,
): Effect.Effect<Uint8Array, CallError | RetryLater> => {
  switch (action._tag) {
    case "Done":
      return Effect.succeed(reply)
    case "SessionExpired":
      core.stats.sessionsExpired++
      if (call.stamp === undefined) return Effect.succeed(reply)
      call.stamp.session.kill()
      call.release()
      if (call.uncertain)
        return Effect.fail(
          call.giveUp("the session expired after an unanswered attempt, so the outcome is unknown"),
        )
      // A new session and a new stamp, at once: nothing of this command ran.
      return attempt(core, call)
    case "RetryUncertain":
      if (call.spec.command !== undefined) call.uncertain = true
      call.reason = action.reason
      return retryLater
    case "Retry":
      call.reason = action.reason
      if (action.error === "NotLeader") core.stats.notLeader++
      else if (action.error === "WrongShard") core.stats.wrongShard++
      else if (action.error === "Overloaded") core.stats.overloaded++
      if (action.stale === "forced") call.forceRefresh = true
      else if (action.stale === "maybe") return Effect.zipRight(mapMayBeStale(core, call), retryLater)
      return retryLater
  }
}
