/**
 * A cluster of real node processes over a real `nats-server`, for integration tests,
 * benchmarks and users' fault-injection suites: start it, send requests, ask each node's
 * admin endpoint, SIGKILL and restart nodes, restart the NATS server, wait for conditions.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { metaSubjectOf } from "../client/MetaClient.js"
import type { MetaRequest } from "../meta/MetaProtocol.js"
import { NodeId } from "../raft/Ids.js"
import { generateClusterSecretText } from "../transport/ClusterSecret.js"
import { type RunningNatsServer, startNatsServer } from "../transport/NatsServer.js"
import { type ClusterSubjects, clusterSubjects } from "../transport/Subjects.js"
import { NodeProcess } from "./NodeProcess.js"

export interface ProcessClusterOptions {
  readonly nodes: number
  readonly cluster?: string
  /** Extra `flotilla start` flags for every node. */
  readonly nodeArgs?: readonly string[]
  /** Extra nats-server arguments (e.g. ["-m", "8222"] for monitoring). */
  readonly natsArgs?: readonly string[]
  /**
   * A cluster managed by the metadata group: node 1 starts with `--bootstrap` (with these
   * cluster settings), the others join one after the other (so node i gets id i). Without it,
   * nodes are static (`--id i`).
   */
  readonly managed?: { readonly clusterSettings?: Record<string, unknown> }
  /**
   * Nodes share a cluster secret (a file written in the cluster's directory, passed as
   * `--cluster-secret-file`): frames and liveness pings are authenticated (default true).
   */
  readonly clusterSecret?: boolean
}

/** One replica as a node's admin `status` reports it. */
export interface AdminGroup {
  readonly groupId: number
  readonly replicaId: number
  readonly isLeader: boolean
  readonly leaderNode?: number
  readonly term: number
  readonly commit: number
  readonly applied: number
  readonly lastIndex: number
  readonly quiesced: boolean
  readonly stopped?: string
}

export interface AdminStatus {
  readonly node: number
  readonly groups: readonly AdminGroup[]
  readonly stats: Record<string, number | number[]>
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class ProcessCluster {
  private constructor(
    readonly nats: RunningNatsServer,
    readonly nodes: NodeProcess[],
    readonly client: NatsConnection,
    readonly cluster: string,
    private readonly root: string,
    private readonly nodeArgs: readonly string[],
    readonly managed: boolean,
  ) {}

  /** Starts nats-server on a free port and `nodes` node processes (ids 1..n). */
  static async start(o: ProcessClusterOptions): Promise<ProcessCluster> {
    const cluster = o.cluster ?? "test"
    const root = mkdtempSync(join(tmpdir(), "flotilla-cluster-"))
    const nodeArgs = [...(o.nodeArgs ?? [])]
    if (o.clusterSecret ?? true) {
      const file = join(root, "cluster.secret")
      writeFileSync(file, generateClusterSecretText(), { mode: 0o600 })
      nodeArgs.push("--cluster-secret-file", file)
    }
    const nats = await startNatsServer({ args: o.natsArgs ?? [] })
    const nodes: NodeProcess[] = []
    const managed = o.managed !== undefined
    for (let i = 1; i <= o.nodes; i++) {
      const settings = o.managed?.clusterSettings
      const extra = i === 1 && settings !== undefined ? ["--cluster-settings", JSON.stringify(settings)] : []
      nodes.push(
        new NodeProcess({
          nodeId: i,
          mode: managed ? (i === 1 ? "bootstrap" : "join") : undefined,
          dataDir: join(root, `node-${i}`),
          natsUrl: nats.url,
          cluster,
          args: [...nodeArgs, ...extra],
        }),
      )
    }
    try {
      if (managed) {
        // One after the other: registration order gives node i the id i.
        for (const n of nodes) {
          await n.start()
          if (n.nodeId !== n.options.nodeId)
            throw new Error(`node started as ${n.options.nodeId} got id ${n.nodeId} from the cluster`)
        }
      } else {
        await Promise.all(nodes.map((n) => n.start()))
      }
      const client = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 })
      return new ProcessCluster(nats, nodes, client, cluster, root, nodeArgs, managed)
    } catch (e) {
      await Promise.all(nodes.map((n) => n.kill()))
      await nats.close()
      rmSync(root, { recursive: true, force: true })
      throw e
    }
  }

  node(id: number): NodeProcess {
    const n = this.nodes[id - 1]
    if (n === undefined) throw new Error(`no node ${id}`)
    return n
  }

  /**
   * Managed clusters: starts one more node that joins the cluster; resolves with its id (the
   * next one: nodes must be added one at a time).
   */
  async addNode(args: readonly string[] = []): Promise<number> {
    if (!this.managed) throw new Error("addNode needs a managed cluster")
    const id = this.nodes.length + 1
    const n = new NodeProcess({
      nodeId: id,
      mode: "join",
      dataDir: join(this.root, `node-${id}`),
      natsUrl: this.nats.url,
      cluster: this.cluster,
      args: [...this.nodeArgs, ...args],
    })
    this.nodes.push(n)
    await n.start()
    if (n.nodeId !== id) throw new Error(`the new node got id ${n.nodeId}, expected ${id}`)
    return id
  }

  /**
   * A request to the metadata leader (on the meta subject of its class, JSON; docs/placement.md), retried
   * while no leader answers or the answer is a runtime error (NotLeader, ...); the answer.
   */
  async meta(request: object, timeoutMs = 30_000): Promise<Record<string, unknown> & { _tag: string }> {
    const retryable = new Set([
      "NotLeader",
      "Overloaded",
      "ProposalFailed",
      "OutcomeUnknown",
      "NodeStopping",
      "GroupNotFound",
    ])
    return this.waitFor(
      `an answer from the metadata leader to ${JSON.stringify(request).slice(0, 80)}`,
      async () => {
        const r = await this.request(
          metaSubjectOf(this.subjects, request as { _tag: MetaRequest["_tag"] }),
          JSON.stringify(request),
          3000,
        )
        if (r === undefined) return undefined
        const reply = JSON.parse(decoder.decode(r)) as Record<string, unknown> & { _tag: string }
        return retryable.has(reply._tag) ? undefined : reply
      },
      timeoutMs,
      100,
    )
  }

  /** A request on the bus; undefined on no responders or timeout. */
  async request(
    subject: string,
    data: Uint8Array | string,
    timeoutMs = 2000,
  ): Promise<Uint8Array | undefined> {
    try {
      const m = await this.client.request(subject, typeof data === "string" ? encoder.encode(data) : data, {
        timeout: timeoutMs,
      })
      return m.data
    } catch {
      return undefined
    }
  }

  /** The cluster's subjects. */
  get subjects(): ClusterSubjects {
    return clusterSubjects(this.cluster)
  }

  /** A node's admin endpoint, as an operator (every request); undefined when it does not answer. */
  async admin(node: number, request: object, timeoutMs = 3000): Promise<Record<string, unknown> | undefined> {
    const r = await this.request(
      this.subjects.adminOperator(NodeId(node)),
      JSON.stringify(request),
      timeoutMs,
    )
    return r === undefined ? undefined : (JSON.parse(decoder.decode(r)) as Record<string, unknown>)
  }

  /** A node's replicas and counters (every page of its admin `status`); undefined when it does not answer. */
  async status(node: number): Promise<AdminStatus | undefined> {
    let first: (AdminStatus & { next?: number }) | undefined
    const groups: AdminGroup[] = []
    let after: number | undefined
    for (;;) {
      const page = (await this.admin(node, { op: "status", ...(after !== undefined ? { after } : {}) })) as
        | (AdminStatus & { next?: number })
        | undefined
      if (page === undefined) return undefined
      first ??= page
      groups.push(...page.groups)
      if (page.next === undefined || page.next <= (after ?? -1))
        return { node: first.node, stats: first.stats, groups }
      after = page.next
    }
  }

  /** Polls `check` until it returns a value other than undefined; throws after `timeoutMs`. */
  async waitFor<T>(
    what: string,
    check: () => Promise<T | undefined>,
    timeoutMs = 60_000,
    everyMs = 250,
  ): Promise<T> {
    const end = Date.now() + timeoutMs
    let last: unknown
    for (;;) {
      try {
        const v = await check()
        if (v !== undefined) return v
      } catch (e) {
        last = e
      }
      if (Date.now() > end)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`)
      await new Promise((r) => setTimeout(r, everyMs))
    }
  }

  /** Stops every node and the server and removes the data. */
  async close(): Promise<void> {
    await this.client.close().catch(() => {})
    await Promise.all(this.nodes.map((n) => n.kill("SIGKILL")))
    await this.nats.close()
    rmSync(this.root, { recursive: true, force: true })
  }
}
