/**
 * The metadata endpoint: whichever node leads group 0 serves the three meta subjects
 * (`<prefix>.<cluster>.{int,cli,op}.meta`, one per permission class; a request of a class
 * other than its subject's is refused, MetaProtocol.ts `refusedOn`). It subscribes when its
 * replica becomes leader and unsubscribes when it stops leading, like a
 * group subject, so "no responders" means "no metadata leader now: retry with backoff".
 *
 * Each request is a JSON `MetaRequest` (MetaProtocol.ts). Heartbeats are answered here: their
 * proof is checked with the node's token in the leader's state and their clock must advance
 * (HeartbeatProof.ts), its load report is kept in memory
 * (`MetaReports`, read by the placement driver; never in the log) and the answer carries the
 * shard map version. Everything else is served through the group like any request to a group
 * (`Node.request(0, bytes)`, routed by `metaShardKind`): queries by ReadIndex, commands
 * stamped with the leader's time and replicated. Bad requests get an error answer and change
 * nothing.
 */
import { Clock, Context, Effect, Either, Layer, Option } from "effect"
import { type ClusterState, findNode, META_GROUP } from "../meta/ClusterState.js"
import { encodeResponse } from "../meta/MetaCommand.js"
import {
  InvalidArgument,
  MalformedRequest,
  NodeRemoved,
  NotBootstrapped,
  UnknownNode,
  WrongToken,
} from "../meta/MetaErrors.js"
import {
  decodeRequest,
  encodeReply,
  HeartbeatAck,
  type HeartbeatRequest,
  refusedOn,
} from "../meta/MetaProtocol.js"
import { MetaStateMachine } from "../meta/MetaStateMachine.js"
import { type NodeLoad, ReportAssembly } from "../meta/NodeReport.js"
import type { NodeId } from "../raft/Ids.js"
import { Node, type NodeService } from "../runtime/Node.js"
import { supervise } from "../runtime/Supervisor.js"
import { Bus } from "../transport/Bus.js"
import { clusterSubjects, type SubjectClass } from "../transport/Subjects.js"
import { serveBounded } from "./BoundedServe.js"
import { HeartbeatClock, verifyHeartbeatProof } from "./HeartbeatProof.js"
import { checkJsonBytes, type JsonLimits } from "./JsonGuard.js"
import { whileLeader } from "./WhileLeader.js"

/** The latest report of one node, as the metadata leader received it. */
export interface ReportEntry {
  readonly load: NodeLoad
  /** The leader's clock when the report arrived. */
  readonly receivedAt: number
}

/** The reports received by this node while it leads the metadata group. */
export interface MetaReportsService {
  /** Records a node's report (the latest one wins). */
  readonly record: (node: NodeId, load: NodeLoad, receivedAt: number) => void
  /** The latest report of every node. */
  readonly entries: () => ReadonlyMap<NodeId, ReportEntry>
  /** Forgets every report and notes when this leadership began. */
  readonly reset: (leaderSince: number) => void
  /** When the current leadership began (the last `reset`). */
  readonly leaderSince: () => number
  /** Reports that arrive in parts, until complete. */
  readonly assembly: ReportAssembly
  /** Each node's last heartbeat taken: older or repeated ones are replays. */
  readonly clock: HeartbeatClock
}

/** Load reports kept in the metadata leader's memory (see the module comment). */
export class MetaReports extends Context.Tag("flotilla/meta/MetaReports")<
  MetaReports,
  MetaReportsService
>() {}

/** A fresh, empty report table. */
export const makeReports = (): MetaReportsService => {
  let table = new Map<NodeId, ReportEntry>()
  let since = 0
  const assembly = new ReportAssembly()
  const clock = new HeartbeatClock()
  return {
    assembly,
    clock,
    record: (node, load, receivedAt) => void table.set(node, { load, receivedAt }),
    entries: () => table,
    reset: (leaderSince) => {
      table = new Map()
      assembly.clear()
      clock.clear()
      since = leaderSince
    },
    leaderSince: () => since,
  }
}

/** The report table of this process. */
export const reportsLayer: Layer.Layer<MetaReports> = Layer.sync(MetaReports, makeReports)

/** The metadata group's state on this node, if it hosts a replica of group 0. */
export const localMetaState = (node: NodeService): ClusterState | undefined => {
  const sm = node.localStateMachine(META_GROUP)
  return Option.isSome(sm) && sm.value instanceof MetaStateMachine ? sm.value.state() : undefined
}

/** Checks a heartbeat against the state and records its report; the answer bytes. */
export const answerHeartbeat = (
  state: ClusterState | undefined,
  request: HeartbeatRequest,
  reports: MetaReportsService,
  nowMs: number,
): Uint8Array => {
  if (state === undefined || !state.bootstrapped) return encodeResponse(new NotBootstrapped())
  const node = findNode(state, request.node)
  if (node === undefined) return encodeResponse(new UnknownNode({ node: request.node }))
  if (!verifyHeartbeatProof(node.token, request.proof, request.node, request.load.at, request.part))
    return encodeResponse(new WrongToken({ node: node.id }))
  if (node.state === "removed") return encodeResponse(new NodeRemoved({ node: node.id }))
  if (request.load.node !== request.node) {
    return encodeResponse(
      new InvalidArgument({
        message: `the load report is node ${request.load.node}'s, the heartbeat node ${request.node}'s`,
      }),
    )
  }
  if (!reports.clock.advance(node.id, request.load.at, request.part?.index ?? 0))
    return encodeResponse(
      new InvalidArgument({
        message: `heartbeat of node ${node.id} replayed or out of order (report at ${request.load.at})`,
      }),
    )
  const whole = request.part === undefined ? request.load : reports.assembly.add(request.load, request.part)
  if (whole !== undefined) reports.record(node.id, whole, nowMs)
  return encodeReply(HeartbeatAck.make({ node: node.id, shardMapVersion: state.shardMapVersion }))
}

/**
 * Limits checked before a meta request is parsed. Load reports over the payload limit arrive
 * in parts (docs/decisions/0038), so no request is larger than the bus's payload limit.
 */
export const META_REQUEST_LIMITS: JsonLimits = { maxBytes: 8 * 1024 * 1024, maxDepth: 16 }

/** Requests handled at once and held at once by the endpoint; beyond, a request is dropped. */
const META_CONCURRENCY = 256
const META_MAX_PENDING = 8192

/**
 * A meta request from its bytes after the size, UTF-8, nesting and lone-surrogate checks, or
 * the `MalformedRequest` saying why not. NEVER throws.
 */
export const decodeMetaRequest = (data: Uint8Array) =>
  Either.flatMap(
    Either.mapLeft(
      checkJsonBytes(data, META_REQUEST_LIMITS),
      (r) => new MalformedRequest({ message: r.message }),
    ),
    () => decodeRequest(data),
  )

/**
 * Answers one request that arrived on the meta subject of class `arrivedOn` (this node leading
 * group 0). A request of another class than the subject's is refused (`refusedOn`).
 */
export const handleRequest = (
  node: NodeService,
  reports: MetaReportsService,
  data: Uint8Array,
  arrivedOn: SubjectClass,
) =>
  Effect.gen(function* () {
    const decoded = decodeMetaRequest(data)
    if (Either.isLeft(decoded)) return encodeResponse(decoded.left)
    const refused = refusedOn(arrivedOn, decoded.right)
    if (refused !== undefined) return encodeResponse(new InvalidArgument({ message: refused }))
    if (decoded.right._tag === "Heartbeat") {
      const now = yield* Clock.currentTimeMillis
      return answerHeartbeat(localMetaState(node), decoded.right, reports, now)
    }
    return yield* node.request(META_GROUP, data)
  })

/** Options of the endpoint. */
export interface MetaEndpointOptions {
  readonly cluster: string
  readonly subjectPrefix?: string
}

/** Serves the meta subject whenever this node leads group 0, for the layer's lifetime. */
export const layer = (options: MetaEndpointOptions): Layer.Layer<never, never, Node | Bus | MetaReports> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const node = yield* Node
      const bus = yield* Bus
      const reports = yield* MetaReports
      const subjects = clusterSubjects(options.cluster, options.subjectPrefix)
      const classes: ReadonlyArray<SubjectClass> = ["internal", "client", "operator"]
      // A request beyond the bound is dropped: its sender times out and retries with backoff.
      const serveClass = (arrivedOn: SubjectClass) =>
        serveBounded(
          bus,
          subjects.metaOf(arrivedOn),
          { concurrency: META_CONCURRENCY, maxPending: META_MAX_PENDING },
          {
            name: `meta endpoint (${arrivedOn})`,
            handle: (data) => handleRequest(node, reports, data, arrivedOn),
            overloaded: undefined,
            internal: undefined,
          },
        )
      const subject = classes.map(subjects.metaOf).join(", ")
      const serve = Effect.gen(function* () {
        reports.reset(yield* Clock.currentTimeMillis)
        yield* Effect.logInfo(`metadata leader: serving ${subject}`)
        yield* Effect.addFinalizer(() => Effect.logInfo(`no longer the metadata leader: left ${subject}`))
        yield* Effect.forEach(classes, serveClass, { discard: true })
        yield* Effect.never
      }).pipe(Effect.catchAll((e) => Effect.logError(`meta endpoint: cannot serve ${subject}: ${e.message}`)))
      // A defect of the serving loop ends the process; a subscription refused or ended is
      // retried while this node leads (whileLeader starts an effect that ended again).
      yield* Effect.forkScoped(
        supervise(
          "meta endpoint",
          whileLeader(META_GROUP, supervise("meta endpoint", serve, { mayEnd: () => true })),
        ),
      )
    }),
  )
