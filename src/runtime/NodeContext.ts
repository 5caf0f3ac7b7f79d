/**
 * What the parts of a running node share: its identity and settings, the engine, the services
 * it runs over, and the small pieces of state the loop, the group subscriptions and the
 * service's calls meet in (the wake-up signal, the replies to send, liveness).
 */
import { Effect, Option, Schema } from "effect"
import { isNodeId, type NodeId } from "../raft/Ids.js"
import { LogStore, type LogStoreService } from "../storage/LogStore.js"
import { Bus, type BusService } from "../transport/Bus.js"
import { livenessAuth } from "../transport/ClusterSecret.js"
import { type ClusterSubjects, clusterSubjects } from "../transport/Subjects.js"
import { Transport, type TransportService } from "../transport/Transport.js"
import { BusReplies } from "./BusReplies.js"
import { Engine } from "./Engine.js"
import { GroupCatalog } from "./GroupCatalog.js"
import { GroupKinds, memoryCatalog } from "./GroupKinds.js"
import { Liveness } from "./Liveness.js"
import { type NodeConfig, NodeSettings } from "./NodeConfig.js"
import { SessionOpenLimiter } from "./SessionOpens.js"
import { WakeSignal } from "./WakeSignal.js"

export interface NodeContext {
  readonly nodeId: NodeId
  readonly config: NodeConfig
  readonly settings: NodeSettings
  /** The replicas and their rounds (synchronous; driven by the loop, NodeLoop.ts). */
  readonly engine: Engine
  readonly store: LogStoreService
  readonly transport: TransportService
  readonly bus: BusService
  readonly subjects: ClusterSubjects
  readonly kinds: GroupKinds
  /** Raised by every input that gives the loop work. */
  readonly wake: WakeSignal
  readonly replies: BusReplies
  readonly liveness: Liveness
  /** The clock's time, for synchronous callbacks. */
  readonly nowMs: () => number
  /** Admission of session opens per client and per group (SessionOpens.ts). */
  readonly sessionOpens: SessionOpenLimiter
}

/**
 * The context of a node over the `LogStore`, `Transport` and `Bus` in context, and the
 * `GroupCatalog` when one is provided (otherwise kinds are kept in memory only). Dies on an
 * invalid node id or settings.
 */
export const makeNodeContext = (
  config: NodeConfig,
): Effect.Effect<NodeContext, never, LogStore | Transport | Bus> =>
  Effect.gen(function* () {
    if (!isNodeId(config.nodeId)) return yield* Effect.dieMessage(`invalid node id ${config.nodeId}`)
    const settings = yield* Schema.decodeUnknown(NodeSettings)(config.settings ?? {}).pipe(Effect.orDie)
    const store = yield* LogStore
    const transport = yield* Transport
    const bus = yield* Bus
    const subjects = clusterSubjects(config.cluster, config.subjectPrefix)
    const nodeId = config.nodeId
    const catalog = Option.getOrElse(yield* Effect.serviceOption(GroupCatalog), () => memoryCatalog())
    const clock = yield* Effect.clock
    const engine = new Engine({
      nodeId,
      electionTicks: settings.electionTicks,
      heartbeatTicks: settings.heartbeatTicks,
      mailboxCapacity: settings.mailboxCapacity,
      snapshotEntries: settings.snapshotEntries,
      keepEntries: settings.keepEntries,
      snapshotCacheMs: settings.snapshotCacheMs,
      quiesceAfterTicks: settings.quiesceAfterTicks,
      raft: config.raft,
    })
    return {
      nodeId,
      config,
      settings,
      engine,
      store,
      transport,
      bus,
      subjects,
      kinds: new GroupKinds(config, catalog),
      wake: new WakeSignal(),
      replies: new BusReplies(),
      liveness: new Liveness(
        bus,
        subjects,
        nodeId,
        settings.livenessIntervalMs,
        settings.livenessTimeoutMs,
        // The loop steps at least once per tick (the beat): a longer gap is a stall.
        Math.max(settings.livenessTimeoutMs / 2, 2 * settings.tickMs),
        config.clusterSecret === undefined ? undefined : livenessAuth(config.clusterSecret),
      ),
      nowMs: () => clock.unsafeCurrentTimeMillis(),
      sessionOpens: new SessionOpenLimiter(config.sessionOpenLimits),
    }
  })
