/**
 * `flotilla start`: run one node until SIGINT/SIGTERM (its groups, NATS connection and store).
 *
 *   flotilla start --bootstrap --data-dir d1 --cluster c    # the first node: creates the cluster
 *   flotilla start --data-dir d2 --cluster c --zone b       # any other node joins (--join)
 *   flotilla start --data-dir d2 --cluster c                # a restart rejoins as itself
 */
import { readFileSync } from "node:fs"
import { Command, Options } from "@effect/cli"
import { Config, Console, Context, Effect, Either, Layer, Option, Schema } from "effect"
import type * as LogFormatTypes from "../../runtime/LogFormat.js"
import { readClusterSecretFile } from "../../transport/ClusterSecret.js"
import { connectionFlags, connectionOptions } from "../ConnectionFlags.js"
import { checkDataDir } from "../DataDir.js"
import { integerIn } from "../IntegerFlags.js"
import { portHint } from "../PortHolder.js"

const bootstrap = Options.boolean("bootstrap").pipe(
  Options.withDescription(
    "create the cluster: this node becomes node 1 and the metadata group's first voter",
  ),
)
const join = Options.boolean("join").pipe(
  Options.withDescription("join the cluster through its metadata group (the default without --bootstrap)"),
)
const name = Options.text("name").pipe(
  Options.withDescription("the node's display name (default: the host name)"),
  Options.optional,
)
const zone = Options.text("zone").pipe(
  Options.withDescription("the node's failure domain (the `zone` label)"),
  Options.optional,
)
const labels = Options.text("labels").pipe(
  Options.withDescription("the node's labels, key=value comma separated"),
  Options.optional,
)
const clusterSettings = Options.text("cluster-settings").pipe(
  Options.withDescription(
    "with --bootstrap: the cluster settings as JSON, e.g. '{\"downTimeoutMs\":30000}' (docs/placement.md)",
  ),
  Options.optional,
)
const reportMs = integerIn("report-ms", 10, 600_000).pipe(
  Options.withDescription("milliseconds between heartbeats to the metadata leader (default 1000)"),
  Options.optional,
)
const placementMs = integerIn("placement-ms", 10, 600_000).pipe(
  Options.withDescription("milliseconds between placement passes on the metadata leader (default 500)"),
  Options.optional,
)
const dataDir = Options.directory("data-dir").pipe(Options.withDescription("directory of the node's data"))
const natsUrl = Options.text("nats").pipe(
  Options.withDescription("NATS server URL(s), comma separated (default nats://127.0.0.1:4222)"),
  Options.optional,
)
const embeddedNats = Options.text("embedded-nats").pipe(
  Options.withDescription(
    "run a nats-server (from the PATH) with this node, listening on host:port or a port " +
      "(host 127.0.0.1 unless given; a non-loopback host needs --embedded-nats-config) " +
      "and use it; other nodes join with --nats nats://<this host>:<port>. Excludes --nats",
  ),
  Options.optional,
)
const embeddedNatsConfig = Options.file("embedded-nats-config", { exists: "yes" }).pipe(
  Options.withDescription(
    "nats-server configuration for --embedded-nats, with its authorization (as `flotilla security init` writes it)",
  ),
  Options.optional,
)
const clusterSecretFile = Options.file("cluster-secret-file", { exists: "either" }).pipe(
  Options.withDescription(
    "file holding the cluster secret (hex; `flotilla security init` writes one): Raft frames and " +
      "liveness pings are authenticated with it; every node needs the same (env FLOTILLA_CLUSTER_SECRET_FILE)",
  ),
  Options.withFallbackConfig(Config.string("FLOTILLA_CLUSTER_SECRET_FILE")),
  Options.optional,
)
const cluster = Options.text("cluster").pipe(
  Options.withDescription("cluster name"),
  Options.withDefault("default"),
)
const tickMs = integerIn("tick-ms", 1, 60_000).pipe(
  Options.withDescription("milliseconds per Raft tick"),
  Options.optional,
)
const snapshotEntries = integerIn("snapshot-entries", 1, 1_000_000_000).pipe(
  Options.withDescription("entries applied between snapshots"),
  Options.optional,
)
const keepEntries = integerIn("keep-entries", 0, 1_000_000_000).pipe(
  Options.withDescription("entries kept behind a snapshot"),
  Options.optional,
)
const quiesceAfterTicks = integerIn("quiesce-after-ticks", 0, 1_000_000_000).pipe(
  Options.withDescription("idle ticks before a group quiesces (0: never)"),
  Options.optional,
)

const http = Options.text("http").pipe(
  Options.withDescription(
    "serve /metrics, /health, /ready and the dashboard on host:port (default 127.0.0.1 on a free " +
      "port, printed at start); a port alone means 127.0.0.1; off: no HTTP endpoint",
  ),
  Options.optional,
)
const metricsPerGroup = Options.boolean("metrics-per-group").pipe(
  Options.withDescription("expose metrics per group too (one series per hosted group: large on big nodes)"),
)

const logFormat = Options.choice("log-format", ["text", "json"]).pipe(
  Options.withDescription(
    "text: Effect's log lines; json: one JSON object a line (time, level, node, group, message, cause)",
  ),
  Options.withDefault("text" as const),
)

/** `key=value,key=value` as labels, or why not. */
export const parseLabels = (text: string): Record<string, string> | string => {
  const out: Record<string, string> = {}
  for (const part of text.split(",")) {
    if (part.trim() === "") continue
    const eq = part.indexOf("=")
    if (eq <= 0) return `--labels wants key=value pairs, got "${part}"`
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim()
  }
  return out
}

/** `host:port` for --embedded-nats, or why not. */
export const parseHostPort = (text: string): { readonly host: string; readonly port: number } | string => {
  const colon = text.lastIndexOf(":")
  const host = colon < 0 ? "127.0.0.1" : text.slice(0, colon)
  const port = Number(colon < 0 ? text : text.slice(colon + 1))
  if (!Number.isInteger(port) || port < 1 || port > 65535 || !/^[A-Za-z0-9.:-]+$/.test(host))
    return `--embedded-nats wants host:port (e.g. 127.0.0.1:4300) or a port, got "${text}"`
  return { host, port }
}

/** `--http`: off, or where to listen (host:port, or a port on 127.0.0.1), or why not. */
export const parseHttp = (
  text: string,
): "off" | { readonly host: string; readonly port: number } | string => {
  if (text === "off") return "off"
  const colon = text.lastIndexOf(":")
  const host = colon < 0 ? "127.0.0.1" : text.slice(0, colon).replace(/^\[(.*)\]$/, "$1")
  const port = Number(colon < 0 ? text : text.slice(colon + 1))
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !/^[A-Za-z0-9.:-]+$/.test(host))
    return `--http wants host:port (e.g. 127.0.0.1:9464), a port, or off, got "${text}"`
  return { host, port }
}

/** True for an address only this machine reaches. */
export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)

/** A nats-server child process for the scope's lifetime. */
const startEmbeddedNats = (
  at: { readonly host: string; readonly port: number },
  config: string | undefined,
) =>
  Effect.flatMap(lazyNatsServer, ({ startNatsServer, NatsServerStartFailed }) =>
    Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          startNatsServer({ host: at.host, port: at.port, ...(config === undefined ? {} : { config }) }),
        catch: (e) => {
          // nats-server says why on a fatal line ("bind: address already in use"); the rest is noise.
          const fatal =
            e instanceof NatsServerStartFailed
              ? e.output.split("\n").find((l) => l.includes("[FTL]") || l.includes("[ERR]"))
              : undefined
          const why = e instanceof Error ? e.message.split("\n")[0] : String(e)
          const inUse = /already in use/i.test(`${why} ${fatal ?? ""}`)
          return new Error(
            `--embedded-nats: ${why}${fatal ? `: ${fatal.replace(/^.*\[(FTL|ERR)\]\s*/, "")}` : ""}` +
              (inUse ? `; ${portHint(at.port)}` : ""),
          )
        },
      }),
      (server) => Effect.promise(() => server.close()),
    ),
  )

// The modules of a running node, imported when the command runs so that `--help` stays fast.
const lazyNatsServer = Effect.promise(() => import("../../transport/NatsServer.js"))
const lazyNode = Effect.promise(() =>
  Promise.all([
    import("../../meta/MetaCommand.js"),
    import("../../node/StartNode.js"),
    import("../../runtime/Node.js"),
    import("../../node/NodeObservations.js"),
    import("../../runtime/LogFormat.js"),
  ]),
)

export const start = Command.make(
  "start",
  {
    bootstrap,
    join,
    name,
    zone,
    labels,
    clusterSettings,
    reportMs,
    placementMs,
    logFormat,
    dataDir,
    natsUrl,
    embeddedNats,
    embeddedNatsConfig,
    clusterSecretFile,
    ...connectionFlags,
    cluster,
    tickMs,
    snapshotEntries,
    keepEntries,
    quiesceAfterTicks,
    http,
    metricsPerGroup,
  },
  (o) =>
    Effect.gen(function* () {
      if (o.bootstrap && o.join)
        return yield* Effect.fail(new Error("--bootstrap and --join exclude each other"))
      const badDir = checkDataDir(o.dataDir)
      if (badDir !== undefined) return yield* Effect.fail(new Error(badDir))
      const [{ SettingsPatch }, StartNode, { Node }, { NodeObservations }, LogFormat] = yield* lazyNode
      const nodeLabels: Record<string, string> = {}
      if (Option.isSome(o.labels)) {
        const parsed = parseLabels(o.labels.value)
        if (typeof parsed === "string") return yield* Effect.fail(new Error(parsed))
        Object.assign(nodeLabels, parsed)
      }
      if (Option.isSome(o.zone)) nodeLabels.zone = o.zone.value
      let settingsPatch: Record<string, unknown> | undefined
      if (Option.isSome(o.clusterSettings)) {
        if (!o.bootstrap)
          return yield* Effect.fail(new Error("--cluster-settings only applies with --bootstrap"))
        const decoded = Schema.decodeUnknownEither(Schema.parseJson(SettingsPatch))(o.clusterSettings.value)
        if (Either.isLeft(decoded))
          return yield* Effect.fail(new Error(`--cluster-settings: ${decoded.left.message}`))
        settingsPatch = decoded.right
      }
      const settings: Record<string, number> = {}
      if (Option.isSome(o.tickMs)) settings.tickMs = o.tickMs.value
      if (Option.isSome(o.snapshotEntries)) settings.snapshotEntries = o.snapshotEntries.value
      if (Option.isSome(o.keepEntries)) settings.keepEntries = o.keepEntries.value
      if (Option.isSome(o.quiesceAfterTicks)) settings.quiesceAfterTicks = o.quiesceAfterTicks.value
      let embedded: { readonly host: string; readonly port: number } | undefined
      if (Option.isSome(o.embeddedNats)) {
        if (Option.isSome(o.natsUrl))
          return yield* Effect.fail(new Error("--embedded-nats and --nats exclude each other"))
        const parsed = parseHostPort(o.embeddedNats.value)
        if (typeof parsed === "string") return yield* Effect.fail(new Error(parsed))
        if (!isLoopback(parsed.host) && Option.isNone(o.embeddedNatsConfig))
          return yield* Effect.fail(
            new Error(
              `--embedded-nats ${o.embeddedNats.value}: refusing to serve an unauthenticated bus on ${parsed.host}, ` +
                "which other machines can reach; give --embedded-nats-config with an authorization block " +
                "(`flotilla security init` writes one) or bind 127.0.0.1",
            ),
          )
        embedded = parsed
      }
      const servers = embedded
        ? [`nats://${embedded.host === "0.0.0.0" ? "127.0.0.1" : embedded.host}:${embedded.port}`]
        : Option.getOrElse(o.natsUrl, () => "nats://127.0.0.1:4222").split(",")
      const httpAt = Option.isSome(o.http) ? parseHttp(o.http.value) : { host: "127.0.0.1", port: 0 }
      if (typeof httpAt === "string" && httpAt !== "off") return yield* Effect.fail(new Error(httpAt))
      const auth = connectionOptions(o)
      if (typeof auth === "string") return yield* Effect.fail(new Error(auth))
      const clusterSecret = Option.isSome(o.clusterSecretFile)
        ? yield* readClusterSecretFile(o.clusterSecretFile.value)
        : undefined
      if (clusterSecret === undefined)
        yield* Console.error(
          "warning: no --cluster-secret-file: Raft frames and liveness pings are NOT authenticated " +
            "(anyone who can publish on the bus can forge them; see docs/security.md)",
        )
      const layer = StartNode.layer({
        clusterSecret,
        mode: o.bootstrap ? "bootstrap" : "join",
        dataDir: o.dataDir,
        cluster: o.cluster,
        nats: { ...auth, servers },
        settings,
        name: Option.getOrUndefined(o.name),
        labels: nodeLabels,
        clusterSettings: settingsPatch,
        reportIntervalMs: Option.getOrUndefined(o.reportMs),
        placementIntervalMs: Option.getOrUndefined(o.placementMs),
        http: typeof httpAt === "string" ? false : { ...httpAt, perGroupMetrics: o.metricsPerGroup },
      })
      let readyAs: number | undefined
      const logContext: LogFormatTypes.LogContext = { name: Option.getOrUndefined(o.name) }
      yield* Effect.scoped(
        Effect.gen(function* () {
          if (embedded !== undefined) {
            const config = Option.isSome(o.embeddedNatsConfig)
              ? readFileSync(o.embeddedNatsConfig.value, "utf8").replace(/^\s*listen\s*:.*$/m, "")
              : undefined
            const server = yield* startEmbeddedNats(embedded, config)
            yield* Console.log(JSON.stringify({ event: "nats", url: server.url, pid: server.pid() }))
          }
          const context = yield* Layer.build(layer)
          const node = Context.get(context, Node)
          readyAs = node.nodeId
          logContext.node = node.nodeId
          const httpUrl = Context.get(context, NodeObservations).http
          if (httpUrl !== undefined) yield* Console.log(JSON.stringify({ event: "http", url: httpUrl }))
          yield* Console.log(JSON.stringify({ event: "ready", node: node.nodeId, pid: process.pid }))
          return yield* Effect.never
        }),
      ).pipe(
        Effect.provide(LogFormat.layer(o.logFormat, logContext)),
        // The clean-stop line, once the node's scope has closed (its store flushed and closed).
        // A stop that fails prints its error instead (main.ts).
        Effect.onInterrupt(() =>
          Console.log(JSON.stringify({ event: "stopped", node: readyAs ?? null, pid: process.pid })),
        ),
      )
    }),
).pipe(Command.withDescription("run one node: its groups, its NATS connection, its store"))
