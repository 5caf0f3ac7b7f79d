/**
 * `flotilla dev` (and `npm start`): the main job. A local cluster of three nodes with a KV
 * keyspace, ready in seconds, its status printed, stopped with Ctrl-C without losing data
 * (it lives in `--data-dir`, `.flotilla/dev` by default; the next run starts the same nodes on
 * it). It uses a `nats-server` from the PATH when there is one (on port 4222 when free) and
 * otherwise an in-process bus, and says which. With a TTY on stdin (or `--console`) it reads
 * commands: `put k v`, `get k`, `del k`, `scan [prefix]`, `status`.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Logger, LogLevel, Option } from "effect"
import { checkDataDir } from "../DataDir.js"
import { integerIn } from "../IntegerFlags.js"

const dataDir = Options.text("data-dir").pipe(
  Options.withDescription("where the nodes keep their data (kept across runs)"),
  Options.withDefault(".flotilla/dev"),
)
const nodes = integerIn("nodes", 1, 9).pipe(
  Options.withDescription("number of nodes"),
  Options.withDefault(3),
)
const shards = integerIn("shards", 1, 256).pipe(
  Options.withDescription("shards of the KV keyspace (when it is created)"),
  Options.withDefault(4),
)
const cluster = Options.text("cluster").pipe(
  Options.withDescription("cluster name"),
  Options.withDefault("default"),
)
const transport = Options.choice("transport", ["auto", "nats", "memory"]).pipe(
  Options.withDescription("auto: nats-server from the PATH if there is one, else the in-process bus"),
  Options.withDefault("auto" as const),
)
const nats = Options.text("nats").pipe(
  Options.withDescription("use this NATS server instead of starting one"),
  Options.optional,
)
const consoleFlag = Options.boolean("console").pipe(
  Options.withDescription("read commands from stdin even when it is not a terminal"),
)
const verbose = Options.boolean("verbose").pipe(Options.withDescription("show the nodes' informational logs"))

/** `flotilla dev`. */
export const dev = Command.make(
  "dev",
  { dataDir, nodes, shards, cluster, transport, nats, console: consoleFlag, verbose },
  (o) =>
    Effect.gen(function* () {
      const bad = checkDataDir(o.dataDir)
      if (bad !== undefined) return yield* Effect.fail(new Error(bad))
      // Imported here, not at the top, so that `--help` stays fast.
      const [KvClient, DevCluster, DevConsole] = yield* Effect.promise(() =>
        Promise.all([
          import("../../client/KvClient.js"),
          import("../DevCluster.js"),
          import("../DevConsole.js"),
        ]),
      )
      yield* Console.log(`flotilla dev: starting cluster "${o.cluster}" with ${o.nodes} node(s)`)
      let started = false
      const stopped = yield* Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* DevCluster.start({
            dataDir: o.dataDir,
            nodes: o.nodes,
            cluster: o.cluster,
            transport: o.transport,
            ...(Option.isSome(o.nats) ? { natsUrl: o.nats.value } : {}),
            keyspaces: [{ name: "kv", kind: "kv", shards: o.shards }],
            log: (line) => Console.log(`  ${line}`),
          })
          started = true
          yield* Effect.addFinalizer(() => Console.log("\nstopping the nodes..."))
          yield* Console.log(
            `cluster "${cluster.cluster}" ready in ${(cluster.readyMs / 1000).toFixed(1)} s\n`,
          )
          const status = DevCluster.status(cluster)
          yield* Console.log(yield* status)
          yield* Console.log("")
          if (cluster.transport === "nats") {
            const natsFlag = cluster.natsUrl === "nats://127.0.0.1:4222" ? "" : ` --nats ${cluster.natsUrl}`
            const clusterFlag = cluster.cluster === "default" ? "" : ` --cluster ${cluster.cluster}`
            const server = cluster.natsUrl === "nats://127.0.0.1:4222" ? "" : ` -s ${cluster.natsUrl}`
            yield* Console.log(
              [
                "try, from another terminal:",
                `  npx flotilla kv put greeting hello${natsFlag}${clusterFlag}`,
                `  npx flotilla kv get greeting${natsFlag}${clusterFlag}`,
                `  nats req${server} flotilla.${cluster.cluster}.kv '{"op":"get","key":"greeting"}'`,
                `  npx flotilla status${natsFlag}${clusterFlag}`,
              ].join("\n"),
            )
          }
          const interactive = o.console || process.stdin.isTTY === true
          if (interactive) {
            const kv = KvClient.make(cluster.router)
            yield* Console.log(`\n${DevConsole.HELP}`)
            yield* Effect.forkScoped(DevConsole.run(kv, status))
          }
          yield* Console.log(`\nCtrl-C stops the cluster; its data stays in ${cluster.dataDir}`)
          yield* Effect.never
        }).pipe(
          Effect.as(undefined),
          Effect.onInterrupt(() => Effect.void),
        ),
      ).pipe(
        // Only a cluster that started has data to speak of.
        Effect.ensuring(Effect.when(Console.log(`stopped; the data is in ${o.dataDir}`), () => started)),
      )
      return stopped
    }).pipe(Logger.withMinimumLogLevel(o.verbose ? LogLevel.Info : LogLevel.Warning)),
).pipe(
  Command.withDescription(
    "run a local cluster (3 nodes, a KV keyspace) until Ctrl-C; data is kept in --data-dir across runs",
  ),
)
