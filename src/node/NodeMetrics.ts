/**
 * The metric families of one node (docs/observability.md lists them all), built at scrape time
 * from what the node already counts: the runtime's `RuntimeMetrics` and engine stats, the Raft
 * transport's counters, the NATS client's statistics, the node's observations (gateway,
 * placement, metadata agent). Per keyspace by default; per group only with `perGroup`.
 */
import { Effect } from "effect"
import { META_GROUP } from "../meta/ClusterState.js"
import type { NodeService, NodeStats } from "../runtime/Node.js"
import type { Family, Histogram, Labels, Sample } from "../runtime/Prometheus.js"
import type { TransportStats } from "../transport/TransportService.js"
import { localMetaState } from "./MetaEndpoint.js"
import type { NodeObservationsService } from "./NodeObservations.js"
import type { NodeShardMapService } from "./NodeShardMap.js"

/** What a scrape reads. */
export interface MetricSources {
  readonly node: NodeService
  readonly observations: NodeObservationsService
  readonly map: NodeShardMapService
  /** The NATS client's statistics and connection state (absent on an in-process bus). */
  readonly nats?: () => {
    readonly inMsgs: number
    readonly outMsgs: number
    readonly inBytes: number
    readonly outBytes: number
    readonly connected: boolean
  }
  /** Open client sessions of the node's KV gateway. */
  readonly sessionsOpen?: () => number
  /** Health and readiness, as `/health` and `/ready` answer. */
  readonly healthy: boolean
  readonly ready: boolean
  /** Metrics per group too (one series per hosted group and metric). */
  readonly perGroup?: boolean
}

const counter = (name: string, help: string, value: number | ReadonlyArray<Sample>): Family => ({
  name,
  help,
  type: "counter",
  samples: typeof value === "number" ? [{ value }] : value,
})

const gauge = (name: string, help: string, value: number | ReadonlyArray<Sample>): Family => ({
  name,
  help,
  type: "gauge",
  samples: typeof value === "number" ? [{ value }] : value,
})

/** A family of one unlabelled histogram. */
const histogram = (name: string, help: string, h: Histogram): Family => ({
  name,
  help,
  type: "histogram",
  histograms: [{ histogram: h }],
})

/** Per-keyspace counts of the hosted replicas. */
interface KeyspaceCounts {
  hosted: number
  leading: number
  quiesced: number
  leaderless: number
  stopped: number
}

const keyspaceOf = (map: NodeShardMapService, group: number): string =>
  group === META_GROUP ? "(meta)" : (map.group(group as never)?.keyspace ?? "(unknown)")

/** Every metric family of the node now. */
export const collect = (s: MetricSources): Effect.Effect<ReadonlyArray<Family>> =>
  Effect.gen(function* () {
    const { node, observations: o } = s
    const m = node.metrics
    const stats = yield* node.stats
    const transport = yield* node.transportStats
    const byKeyspace = new Map<string, KeyspaceCounts>()
    let mailbox = 0
    let metaLeader = false
    const groupSamples = {
      term: [] as Sample[],
      commit: [] as Sample[],
      applied: [] as Sample[],
      leader: [] as Sample[],
    }
    yield* node.forEachReplica((r) => {
      const ks = keyspaceOf(s.map, r.groupId)
      let c = byKeyspace.get(ks)
      if (c === undefined)
        byKeyspace.set(ks, (c = { hosted: 0, leading: 0, quiesced: 0, leaderless: 0, stopped: 0 }))
      c.hosted++
      if (r.isLeader) c.leading++
      if (r.quiesced) c.quiesced++
      if (!r.leaderKnown) c.leaderless++
      if (r.stopped) c.stopped++
      mailbox += r.mailbox
      if (r.groupId === META_GROUP && r.isLeader) metaLeader = true
      if (s.perGroup) {
        const labels = { group: String(r.groupId), keyspace: ks }
        groupSamples.term.push({ labels, value: r.term })
        groupSamples.commit.push({ labels, value: r.commit })
        groupSamples.applied.push({ labels, value: r.applied })
        groupSamples.leader.push({ labels, value: r.isLeader ? 1 : 0 })
      }
    })
    const perKs = (f: (c: KeyspaceCounts) => number): Sample[] =>
      [...byKeyspace].map(([keyspace, c]) => ({ labels: { keyspace }, value: f(c) }))
    const inFlight = metaLeader ? (localMetaState(node)?.operators.length ?? 0) : 0
    const scrape: Scrape = { s, node, o, m, stats, transport, perKs, mailbox, inFlight, metaLeader }
    const families: Family[] = [
      ...nodeAndGroupFamilies(scrape),
      ...raftAndStorageFamilies(scrape),
      ...busAndServiceFamilies(scrape),
    ]
    if (s.perGroup)
      families.push(
        gauge("flotilla_group_term", "A hosted replica's current term.", groupSamples.term),
        gauge("flotilla_group_commit_index", "A hosted replica's commit index.", groupSamples.commit),
        gauge("flotilla_group_applied_index", "A hosted replica's applied index.", groupSamples.applied),
        gauge("flotilla_group_leading", "1 while the hosted replica leads its group.", groupSamples.leader),
      )
    return families
  })

/** What one scrape reads once, for the family builders below. */
interface Scrape {
  readonly s: MetricSources
  readonly node: MetricSources["node"]
  readonly o: NodeObservationsService
  readonly m: MetricSources["node"]["metrics"]
  readonly stats: NodeStats
  readonly transport: TransportStats
  /** One sample per keyspace of a census count. */
  readonly perKs: (f: (c: KeyspaceCounts) => number) => Sample[]
  readonly mailbox: number
  readonly inFlight: number
  readonly metaLeader: boolean
}

/** The node, its health and its replicas by keyspace. */
const nodeAndGroupFamilies = ({ s, node, perKs, metaLeader }: Scrape): Family[] => [
  gauge("flotilla_node_info", "Constant 1, labelled with the node's id.", [
    { labels: { node: String(node.nodeId) }, value: 1 },
  ]),
  gauge(
    "flotilla_node_healthy",
    "1 while /health answers 200 (loops alive and making progress).",
    s.healthy ? 1 : 0,
  ),
  gauge(
    "flotilla_node_ready",
    "1 while /ready answers 200 (joined, reaching the metadata group, caught up).",
    s.ready ? 1 : 0,
  ),
  gauge(
    "flotilla_groups",
    "Replicas hosted by the node.",
    perKs((c) => c.hosted),
  ),
  gauge(
    "flotilla_groups_leading",
    "Hosted replicas that lead their group.",
    perKs((c) => c.leading),
  ),
  gauge(
    "flotilla_groups_quiesced",
    "Hosted replicas whose group is quiesced (no ticks while idle).",
    perKs((c) => c.quiesced),
  ),
  gauge(
    "flotilla_groups_leaderless",
    "Hosted replicas that know no leader of their group.",
    perKs((c) => c.leaderless),
  ),
  gauge(
    "flotilla_groups_stopped",
    "Hosted replicas stopped by a failure (store corruption, state machine error).",
    perKs((c) => c.stopped),
  ),
  gauge("flotilla_meta_leader", "1 while this node leads the metadata group (group 0).", metaLeader ? 1 : 0),
]

/** Raft, proposals, storage, snapshots and the engine. */
const raftAndStorageFamilies = ({ m, mailbox, stats }: Scrape): Family[] => [
  counter("flotilla_raft_term_changes_total", "Times a hosted replica saw a new term.", m.termChanges),
  counter(
    "flotilla_raft_leader_changes_total",
    "Times a hosted replica saw its group's leader change.",
    m.leaderChanges,
  ),
  counter(
    "flotilla_raft_elections_started_total",
    "Elections (pre-vote or vote) started by hosted replicas.",
    m.electionsStarted,
  ),
  counter("flotilla_raft_elections_won_total", "Elections won by hosted replicas.", m.electionsWon),
  counter("flotilla_proposals_accepted_total", "Commands accepted into a leader's log.", m.proposalsAccepted),
  counter(
    "flotilla_proposals_dropped_total",
    "Commands refused by the Raft core (not leader, no leader, transfer under way).",
    m.proposalsDropped,
  ),
  counter(
    "flotilla_proposals_failed_total",
    "Accepted commands that did not apply (slot lost, replaced by a snapshot, group stopped).",
    m.proposalsFailed,
  ),
  histogram(
    "flotilla_proposal_seconds",
    "Command accepted into the leader's log until applied and answered.",
    m.proposalSeconds,
  ),
  histogram(
    "flotilla_proposal_to_commit_seconds",
    "Command accepted into the leader's log until the round that learnt it committed.",
    m.proposalToCommitSeconds,
  ),
  histogram(
    "flotilla_commit_to_apply_seconds",
    "Round that saw entries committed until they were applied.",
    m.commitToApplySeconds,
  ),
  histogram(
    "flotilla_storage_write_seconds",
    "One store write of an engine round (all its groups, one batch).",
    m.writeSeconds,
  ),
  histogram("flotilla_storage_write_batch_groups", "Groups updated by one store write.", m.writeBatchGroups),
  counter(
    "flotilla_storage_writes_total",
    "Store writes (one per engine round with something to persist).",
    m.writes,
  ),
  counter("flotilla_storage_fsyncs_total", "Store writes synced to disk.", m.fsyncs),
  counter(
    "flotilla_storage_write_failures_total",
    "Store writes that failed (their groups stop).",
    m.writeFailures,
  ),
  counter(
    "flotilla_storage_written_bytes_total",
    "Entry and snapshot payload bytes written to the store.",
    m.bytesWritten,
  ),
  counter("flotilla_snapshots_sent_total", "Snapshots sent to followers.", m.snapshotsSent),
  counter("flotilla_snapshot_sent_bytes_total", "Snapshot bytes sent to followers.", m.snapshotBytesSent),
  counter("flotilla_snapshots_received_total", "Snapshots received from leaders.", m.snapshotsReceived),
  counter(
    "flotilla_snapshot_received_bytes_total",
    "Snapshot bytes received from leaders.",
    m.snapshotBytesReceived,
  ),
  counter(
    "flotilla_snapshots_installed_total",
    "Snapshots installed into hosted replicas.",
    stats.snapshotsInstalled,
  ),
  counter(
    "flotilla_snapshot_installed_bytes_total",
    "Snapshot bytes installed into hosted replicas.",
    m.snapshotBytesInstalled,
  ),
  gauge("flotilla_mailbox_requests", "Requests waiting in the mailboxes of hosted replicas.", mailbox),
  counter(
    "flotilla_overloaded_total",
    "Requests refused with Overloaded (a replica's mailbox was full).",
    m.overloaded,
  ),
]

/** Transport, gateway, sessions, placement, NATS and the process. */
const busAndServiceFamilies = ({ s, o, stats, transport, inFlight }: Scrape): Family[] => [
  counter("flotilla_engine_rounds_total", "Engine rounds.", stats.rounds),
  counter("flotilla_raft_messages_sent_total", "Raft messages sent to other nodes.", stats.messagesOut),
  counter(
    "flotilla_raft_messages_received_total",
    "Raft messages received from other nodes.",
    stats.messagesIn,
  ),
  counter(
    "flotilla_transport_frames_sent_total",
    "Raft transport frames published (one per destination node and round).",
    transport.framesSent,
  ),
  counter("flotilla_transport_sent_bytes_total", "Raft transport bytes published.", transport.bytesSent),
  counter(
    "flotilla_transport_frames_received_total",
    "Raft transport frames received.",
    transport.framesReceived,
  ),
  counter(
    "flotilla_transport_received_bytes_total",
    "Raft transport bytes received.",
    transport.bytesReceived,
  ),
  counter(
    "flotilla_transport_dropped_frames_total",
    "Inbound Raft frames dropped, by reason.",
    Object.entries(transport.dropped).map(([reason, value]) => ({ labels: { reason }, value })),
  ),
  counter(
    "flotilla_transport_unsent_total",
    "Outbound Raft messages or frames not sent, by reason.",
    Object.entries(transport.unsent).map(([reason, value]) => ({ labels: { reason }, value })),
  ),
  counter(
    "flotilla_unsent_replies_total",
    "Replies to bus requests that could not be sent.",
    stats.unsentReplies,
  ),
  {
    name: "flotilla_gateway_request_seconds",
    help: "KV gateway requests, by operation and outcome (ok, or the error).",
    type: "histogram",
    histograms: [...o.gateway.byKey.values()].map((h) => ({
      labels: h.labels as Labels,
      histogram: h.histogram,
    })),
  },
  gauge("flotilla_sessions_open", "Client sessions open in the node's KV gateway.", s.sessionsOpen?.() ?? 0),
  counter(
    "flotilla_placement_operators_started_total",
    "Placement operators this node started as metadata leader.",
    o.placement.started,
  ),
  counter(
    "flotilla_placement_operators_finished_total",
    "Placement operators this node finished (succeeded) as metadata leader.",
    o.placement.finished,
  ),
  counter(
    "flotilla_placement_operators_failed_total",
    "Placement operators this node ended rolled back as metadata leader.",
    o.placement.failed,
  ),
  gauge(
    "flotilla_placement_operators_in_flight",
    "Placement operators in flight (on the metadata leader; 0 elsewhere).",
    inFlight,
  ),
  gauge("flotilla_nodes_down", "Nodes this node's liveness counts as down.", stats.nodesDown.length),
  ...natsFamilies(s, o),
  ...processFamilies(),
]

const natsFamilies = (s: MetricSources, o: NodeObservationsService): Family[] => {
  if (s.nats === undefined) return []
  const n = s.nats()
  return [
    gauge("flotilla_nats_connected", "1 while the node's NATS connection is up.", n.connected ? 1 : 0),
    counter(
      "flotilla_nats_reconnects_total",
      "Times the NATS connection came back after a loss.",
      o.nats.reconnects,
    ),
    counter(
      "flotilla_nats_messages_received_total",
      "NATS messages received by the node's connection.",
      n.inMsgs,
    ),
    counter("flotilla_nats_messages_sent_total", "NATS messages sent by the node's connection.", n.outMsgs),
    counter(
      "flotilla_nats_received_bytes_total",
      "NATS payload bytes received by the node's connection.",
      n.inBytes,
    ),
    counter(
      "flotilla_nats_sent_bytes_total",
      "NATS payload bytes sent by the node's connection.",
      n.outBytes,
    ),
  ]
}

const startTime = (Date.now() - performance.now()) / 1000

const processFamilies = (): Family[] => {
  const cpu = process.cpuUsage()
  const mem = process.memoryUsage()
  return [
    counter(
      "flotilla_process_cpu_seconds_total",
      "User and system CPU time of the process.",
      (cpu.user + cpu.system) / 1e6,
    ),
    gauge("flotilla_process_resident_memory_bytes", "Resident set size of the process.", mem.rss),
    gauge("flotilla_process_heap_used_bytes", "JavaScript heap in use.", mem.heapUsed),
    gauge("flotilla_process_start_time_seconds", "Start time of the process (Unix seconds).", startTime),
  ]
}
