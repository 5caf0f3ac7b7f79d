/**
 * A local cluster in one process, for `flotilla dev` and for examples: N managed nodes
 * (`StartNode`, LevelDB in `<dataDir>/node-<i>`), the first bootstrapping the cluster and the
 * others joining it, the keyspaces created, and every group led before it reports ready.
 *
 * The bus: an existing NATS server (`natsUrl`), else a `nats-server` from the PATH that it
 * starts (on port 4222 when that is free, so `nats` and the `flotilla` client commands reach
 * it with their defaults), else — or with `transport: "memory"` — an in-process bus and
 * network (`MemoryBus`, `MemoryNetwork`), which only clients in this process can reach.
 *
 * Everything lives in the caller's scope: closing it stops the nodes cleanly (their stores
 * flushed and closed), then the nats-server. A second run on the same data directory brings
 * the same nodes back with their data (their identity files name them).
 */
import { mkdirSync } from "node:fs"
import { createServer } from "node:net"
import { join, resolve } from "node:path"
import { Context, Data, Duration, Effect, Layer, Option, Scope } from "effect"
import * as KvShardKind from "../../shards/kv/KvShardKind.js"
import * as Router from "../client/Router.js"
import * as StartNode from "../node/StartNode.js"
import { Node, type NodeService } from "../runtime/Node.js"
import type { ShardKind } from "../runtime/ShardKind.js"
import * as Bus from "../transport/Bus.js"
import {
  type ClusterSecret,
  generateClusterSecretText,
  parseClusterSecret,
} from "../transport/ClusterSecret.js"
import * as MemoryBus from "../transport/MemoryBus.js"
import * as MemoryNetwork from "../transport/MemoryNetwork.js"
import * as NatsConnection from "../transport/NatsConnection.js"
import { findNatsServer, type RunningNatsServer, startNatsServer } from "../transport/NatsServer.js"
import * as ClusterStatus from "./ClusterStatus.js"

/** A keyspace the cluster should have. */
export interface DevKeyspace {
  readonly name: string
  /** The state machine kind of its shards (default `kv`). */
  readonly kind?: string
  readonly shards: number
}

/** What to run. */
export interface DevOptions {
  readonly dataDir: string
  readonly nodes?: number
  readonly cluster?: string
  /** `auto` (default): NATS when there is a server, else in-process. */
  readonly transport?: "auto" | "nats" | "memory"
  /** Use this NATS server instead of starting one. */
  readonly natsUrl?: string
  /** Keyspaces to create (default: `kv`, the KV store, 4 shards). */
  readonly keyspaces?: ReadonlyArray<DevKeyspace>
  /** Shard kinds the nodes host besides the KV store. */
  readonly kinds?: ReadonlyArray<ShardKind>
  /** How long to wait for the cluster to be ready (default 60 s). */
  readonly readyTimeout?: Duration.DurationInput
  /** Called with progress lines ("node 2 joined", ...). */
  readonly log?: (line: string) => Effect.Effect<void>
}

/** The running cluster. */
export interface DevCluster {
  readonly cluster: string
  readonly dataDir: string
  /** How nodes and clients talk. */
  readonly transport: "nats" | "memory"
  /** The NATS URL (transport `nats`). */
  readonly natsUrl: string | undefined
  /** Where the bus came from, for the user. */
  readonly busDescription: string
  /** The router and bus of clients in this process (one connection, open while the scope is). */
  readonly clients: Layer.Layer<Router.Router | Bus.Bus>
  readonly router: Router.RouterService
  readonly bus: Bus.BusService
  /** Milliseconds from the start to ready. */
  readonly readyMs: number
}

/** The cluster could not start. */
export class DevError extends Data.TaggedError("DevError")<{ readonly message: string }> {}

/** Whether `port` on 127.0.0.1 can be listened on now. */
const portFree = (port: number): Promise<boolean> =>
  new Promise((done) => {
    const srv = createServer()
    srv.once("error", () => done(false))
    srv.listen(port, "127.0.0.1", () => srv.close(() => done(true)))
  })

/** The NATS port `flotilla dev` prefers. */
export const DEV_NATS_PORT = 4222

const startServer = Effect.acquireRelease(
  Effect.tryPromise({
    try: async () => {
      const port = (await portFree(DEV_NATS_PORT)) ? DEV_NATS_PORT : undefined
      return startNatsServer(port === undefined ? {} : { port })
    },
    catch: (e) =>
      new DevError({ message: `nats-server did not start: ${e instanceof Error ? e.message : e}` }),
  }),
  (server: RunningNatsServer) => Effect.promise(() => server.close()),
)

/** Starts the cluster in the current scope; resolves once every group has a leader. */
export const start = (options: DevOptions): Effect.Effect<DevCluster, DevError, Scope.Scope> =>
  Effect.gen(function* () {
    const log = options.log ?? (() => Effect.void)
    const started = Date.now()
    const cluster = options.cluster ?? "default"
    const dataDir = resolve(options.dataDir)
    const nodes = options.nodes ?? 3
    const keyspaces = options.keyspaces ?? [{ name: "kv", kind: "kv", shards: 4 }]
    yield* Effect.try({
      try: () => mkdirSync(dataDir, { recursive: true }),
      catch: (e) => new DevError({ message: `cannot create ${dataDir}: ${String(e)}` }),
    })

    // ----- the bus
    const wanted = options.transport ?? "auto"
    let natsUrl = options.natsUrl
    let busDescription: string
    let memory: { bus: MemoryBus.MemoryBus; network: MemoryNetwork.MemoryNetwork } | undefined
    if (natsUrl !== undefined) busDescription = `NATS at ${natsUrl}`
    else {
      const binary = wanted === "memory" ? undefined : findNatsServer()
      if (typeof binary === "string") {
        const server = yield* startServer
        natsUrl = server.url
        busDescription = `nats-server found at ${binary}, listening on ${server.url}`
      } else if (wanted === "nats") {
        return yield* new DevError({ message: (binary as Error).message })
      } else {
        memory = { bus: yield* MemoryBus.make(), network: yield* MemoryNetwork.make({ cluster }) }
        busDescription =
          wanted === "memory"
            ? "the in-process bus (--transport memory): only this process can reach the cluster"
            : "the in-process bus: no nats-server on the PATH, so only this process can reach the cluster (install nats-server to use the CLI and `nats req` from other terminals)"
      }
    }
    yield* log(`bus: ${busDescription}`)
    yield* log(`data: ${dataDir} (kept across runs; delete it to start afresh)`)

    // ----- the nodes, one after the other: joining in order gives node i the id i
    const kinds = [KvShardKind.make(), ...(options.kinds ?? [])]
    const running: NodeService[] = []
    // Each node in its own scope, all closed together after the cluster settled (see `settle`).
    const nodeScopes: Scope.CloseableScope[] = []
    yield* Effect.addFinalizer((exit) =>
      Effect.zipRight(
        settle(running),
        Effect.forEach(nodeScopes, (s) => Scope.close(s, exit), { concurrency: "unbounded", discard: true }),
      ),
    )
    // A fresh secret per run: every node of the dev cluster lives in this process.
    const clusterSecret = parseClusterSecret(generateClusterSecretText()) as ClusterSecret
    for (let i = 1; i <= nodes; i++) {
      const layer = StartNode.layer({
        clusterSecret,
        mode: i === 1 ? "bootstrap" : "join",
        dataDir: join(dataDir, `node-${i}`),
        cluster,
        nats: { servers: natsUrl ?? "nats://127.0.0.1:1" },
        name: `dev-${i}`,
        kinds,
        reportIntervalMs: 500,
        placementIntervalMs: 300,
        ...(memory === undefined ? {} : { memory }),
      })
      const nodeScope = yield* Scope.make()
      nodeScopes.push(nodeScope)
      const built = yield* Layer.buildWithScope(layer, nodeScope).pipe(
        Effect.mapError((e) => new DevError({ message: `node ${i} did not start: ${describe(e)}` })),
        Effect.catchAllDefect((d) =>
          Effect.fail(new DevError({ message: `node ${i} failed: ${describe(d)}` })),
        ),
      )
      running.push(Context.get(built, Node))
      yield* log(`node ${i} up (${join(dataDir, `node-${i}`)})`)
    }

    // ----- clients of this process
    const clientBus: Layer.Layer<Bus.Bus, NatsConnection.NatsConnectionError> =
      memory !== undefined
        ? Bus.layerMemory(memory.bus)
        : Bus.layerNats.pipe(
            Layer.provide(NatsConnection.layer({ servers: natsUrl!, name: "flotilla-dev-client" })),
          )
    const clientContext = yield* Layer.build(
      Router.layer({ cluster }).pipe(Layer.provideMerge(clientBus)),
    ).pipe(Effect.mapError((e) => new DevError({ message: `the client connection failed: ${e.message}` })))
    const router = Context.get(clientContext, Router.Router)
    const bus = Context.get(clientContext, Bus.Bus)

    // ----- keyspaces, then wait for every group to have a leader
    const readyTimeout = options.readyTimeout ?? "60 seconds"
    yield* Effect.gen(function* () {
      for (const k of keyspaces) {
        const answer = yield* router.meta({
          _tag: "CreateKeyspace",
          name: k.name,
          shards: k.shards,
          replicationFactor: 0,
          ...(k.kind === undefined ? {} : { kind: k.kind }),
        })
        if (answer._tag === "KeyspaceCreated") yield* log(`keyspace ${k.name} created: ${k.shards} shard(s)`)
        else if (answer._tag !== "KeyspaceExists")
          return yield* new DevError({
            message: `keyspace ${k.name}: the metadata group answered ${answer._tag}`,
          })
      }
      for (;;) {
        const report = yield* Effect.either(ClusterStatus.gather(router, bus))
        if (report._tag === "Right") {
          const { groups, nodes: listed } = report.right
          const created = groups.filter((g) => keyspaces.some((k) => k.name === g.keyspace))
          const up = listed.filter((n) => n.state === "up").length
          if (created.length > 0 && groups.every((g) => g.leader !== undefined) && up >= nodes) return
        }
        yield* Effect.sleep("200 millis")
      }
    }).pipe(
      Effect.timeoutFail({
        duration: readyTimeout,
        onTimeout: () =>
          new DevError({ message: `the cluster was not ready within ${Duration.format(readyTimeout)}` }),
      }),
      Effect.mapError((e) => (e instanceof DevError ? e : new DevError({ message: describe(e) }))),
    )
    return {
      cluster,
      dataDir,
      transport: memory === undefined ? "nats" : "memory",
      natsUrl,
      busDescription,
      clients: Layer.succeedContext(clientContext),
      router,
      bus,
      readyMs: Date.now() - started,
    } satisfies DevCluster
  })

/**
 * Waits, at most `SETTLE_TIMEOUT_MS`, until no replica's log moves: every replica has applied
 * its whole log, and terms, commit and last indexes are the same in two looks 150 ms apart.
 * The nodes then stop together, so that none sees another leave and starts an election (and
 * the writes and log lines that go with it) while it stops. It runs in a finalizer, which
 * cannot be interrupted, so the deadline is checked by hand.
 */
const settle = (nodes: ReadonlyArray<NodeService>) =>
  Effect.gen(function* () {
    const look = Effect.map(
      Effect.forEach(nodes, (n) => n.groups),
      (all) =>
        all
          .flat()
          .map((g) =>
            g.applied === g.lastIndex ? `${g.groupId}:${g.term}:${g.commit}:${g.lastIndex}` : "busy",
          )
          .join(","),
    )
    const deadline = Date.now() + SETTLE_TIMEOUT_MS
    let previous = ""
    while (Date.now() < deadline) {
      const now = yield* look
      if (now === previous && !now.includes("busy")) return
      previous = now
      yield* Effect.sleep("150 millis")
    }
  })

/** Longest wait for the nodes to settle before they stop. */
const SETTLE_TIMEOUT_MS = 3_000

/** The status table of a running dev cluster. */
export const status = (dev: DevCluster) =>
  Effect.map(ClusterStatus.gather(dev.router, dev.bus), ClusterStatus.render)

const describe = (e: unknown): string => {
  if (e instanceof Error) return e.message
  if (typeof e === "object" && e !== null && "message" in e)
    return String((e as { message: unknown }).message)
  return Option.getOrElse(Option.liftThrowable(JSON.stringify)(e), () => String(e))
}
