/**
 * The command line of a static node (`StaticNode.ts`): fixed groups hosting the checksum test
 * machine, no metadata group. `NodeProcess` runs it for `mode: "static"`; benchmarks of the
 * engine and multi-process tests use it. Prints `{"event":"ready","node":N,"pid":P}` once up and
 * stops cleanly on SIGINT/SIGTERM.
 *
 *   node --import tsx src/testing/static-node-main.ts --id 1 --data-dir d1 --nats nats://127.0.0.1:4300 \
 *     --cluster bench --static-groups 64 [--static-members 1,2,3] [--tick-ms 50] [--snapshot-entries N]
 *     [--keep-entries N] [--quiesce-after-ticks N] [--election-ticks N] [--liveness-interval-ms N]
 *     [--liveness-timeout-ms N] [--log-level debug|info|warning|error]
 */
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Context, Effect, Layer, Logger, LogLevel } from "effect"
import { Node } from "../runtime/Node.js"
import { type ClusterSecret, readClusterSecretFile } from "../transport/ClusterSecret.js"
import * as StaticNode from "./StaticNode.js"

const LOG_LEVELS = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
} as const

const { values } = parseArgs({
  options: {
    id: { type: "string" },
    "data-dir": { type: "string" },
    nats: { type: "string", default: "nats://127.0.0.1:4222" },
    cluster: { type: "string", default: "default" },
    "static-groups": { type: "string" },
    "static-members": { type: "string", default: "1,2,3" },
    "tick-ms": { type: "string" },
    "snapshot-entries": { type: "string" },
    "keep-entries": { type: "string" },
    "quiesce-after-ticks": { type: "string" },
    "election-ticks": { type: "string" },
    "liveness-interval-ms": { type: "string" },
    "liveness-timeout-ms": { type: "string" },
    "log-level": { type: "string", default: "info" },
    "cluster-secret-file": { type: "string" },
  },
})

const fail = (why: string): never => {
  console.error(`static-node: ${why}`)
  process.exit(2)
}

const int = (name: string, text: string | undefined, min: number, max: number): number | undefined => {
  if (text === undefined) return undefined
  const n = Number(text)
  return Number.isInteger(n) && n >= min && n <= max
    ? n
    : fail(`--${name} wants an integer in ${min}..${max}, got "${text}"`)
}

const nodeId = int("id", values.id, 1, 65535) ?? fail("--id is required")
const dataDir = values["data-dir"] ?? fail("--data-dir is required")
const members = values["static-members"].split(",").map((m) => int("static-members", m.trim(), 1, 65535)!)
const count = int("static-groups", values["static-groups"], 1, 1_000_000)
const logLevel =
  LOG_LEVELS[values["log-level"] as keyof typeof LOG_LEVELS] ?? fail(`--log-level: ${values["log-level"]}`)
const settings: Record<string, number> = {}
for (const [flag, key] of [
  ["tick-ms", "tickMs"],
  ["snapshot-entries", "snapshotEntries"],
  ["keep-entries", "keepEntries"],
  ["quiesce-after-ticks", "quiesceAfterTicks"],
  ["election-ticks", "electionTicks"],
  ["liveness-interval-ms", "livenessIntervalMs"],
  ["liveness-timeout-ms", "livenessTimeoutMs"],
] as const) {
  const v = int(flag, values[flag], 0, Number.MAX_SAFE_INTEGER)
  if (v !== undefined) settings[key] = v
}

const secretFile = values["cluster-secret-file"]

const layer = (clusterSecret: ClusterSecret | undefined) =>
  StaticNode.layer({
    clusterSecret,
    nodeId,
    dataDir,
    cluster: values.cluster,
    nats: { servers: values.nats.split(",") },
    settings,
    groups: count === undefined ? undefined : { count, members },
  })

Effect.scoped(
  Effect.gen(function* () {
    const secret = secretFile === undefined ? undefined : yield* readClusterSecretFile(secretFile)
    const context = yield* Layer.build(layer(secret))
    const node = Context.get(context, Node)
    yield* Console.log(JSON.stringify({ event: "ready", node: node.nodeId, pid: process.pid }))
    return yield* Effect.never
  }),
).pipe(
  Logger.withMinimumLogLevel(logLevel),
  Effect.tapErrorCause((cause) => Console.error(`static-node: ${cause.toString().split("\n")[0]}`)),
  NodeRuntime.runMain({ disableErrorReporting: true }),
)
