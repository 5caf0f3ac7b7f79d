/**
 * `flotilla start`: run one node until SIGINT/SIGTERM (its groups, NATS connection and store).
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Layer, Option } from "effect"
import * as StartNode from "../StartNode.js"

const id = Options.integer("id").pipe(Options.withDescription("this node's id (1..65535)"))
const dataDir = Options.directory("data-dir").pipe(Options.withDescription("directory of the node's data"))
const natsUrl = Options.text("nats").pipe(
  Options.withDescription("NATS server URL(s), comma separated"),
  Options.withDefault("nats://127.0.0.1:4222"),
)
const cluster = Options.text("cluster").pipe(
  Options.withDescription("cluster name"),
  Options.withDefault("default"),
)
const tickMs = Options.integer("tick-ms").pipe(
  Options.withDescription("milliseconds per Raft tick"),
  Options.optional,
)
const snapshotEntries = Options.integer("snapshot-entries").pipe(
  Options.withDescription("entries applied between snapshots"),
  Options.optional,
)
const keepEntries = Options.integer("keep-entries").pipe(
  Options.withDescription("entries kept behind a snapshot"),
  Options.optional,
)
const quiesceAfterTicks = Options.integer("quiesce-after-ticks").pipe(
  Options.withDescription("idle ticks before a group quiesces (0: never)"),
  Options.optional,
)
const staticGroups = Options.integer("static-groups").pipe(
  Options.withDescription("bootstrap groups 1..N with --static-members (benchmarks, tests)"),
  Options.optional,
)
const staticMembers = Options.text("static-members").pipe(
  Options.withDescription("node ids of the static groups, comma separated"),
  Options.withDefault("1,2,3"),
)

const parseIds = (s: string) => s.split(",").map((x) => Number(x.trim()))

export const start = Command.make(
  "start",
  {
    id,
    dataDir,
    natsUrl,
    cluster,
    tickMs,
    snapshotEntries,
    keepEntries,
    quiesceAfterTicks,
    staticGroups,
    staticMembers,
  },
  (o) =>
    Effect.gen(function* () {
      const members = parseIds(o.staticMembers)
      if (members.some((m) => !Number.isInteger(m) || m < 1 || m > 65535)) {
        return yield* Effect.fail(new Error(`--static-members must be node ids, got "${o.staticMembers}"`))
      }
      if (!Number.isInteger(o.id) || o.id < 1 || o.id > 65535) {
        return yield* Effect.fail(new Error(`--id must be in 1..65535, got ${o.id}`))
      }
      const settings: Record<string, number> = {}
      if (Option.isSome(o.tickMs)) settings.tickMs = o.tickMs.value
      if (Option.isSome(o.snapshotEntries)) settings.snapshotEntries = o.snapshotEntries.value
      if (Option.isSome(o.keepEntries)) settings.keepEntries = o.keepEntries.value
      if (Option.isSome(o.quiesceAfterTicks)) settings.quiesceAfterTicks = o.quiesceAfterTicks.value
      const layer = StartNode.layer({
        nodeId: o.id,
        dataDir: o.dataDir,
        cluster: o.cluster,
        nats: { servers: o.natsUrl.split(",") },
        settings,
        staticGroups: Option.isSome(o.staticGroups) ? { count: o.staticGroups.value, members } : undefined,
      })
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Layer.build(layer)
          yield* Console.log(JSON.stringify({ event: "ready", node: o.id, pid: process.pid }))
          return yield* Effect.never
        }),
      )
    }),
).pipe(Command.withDescription("run one node: its groups, its NATS connection, its store"))
