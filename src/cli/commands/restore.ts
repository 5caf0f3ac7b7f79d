/**
 * `flotilla restore FILE --data-dir DIR`: the data directory of node 1 of a new cluster, made
 * from a backup (`flotilla backup create`); nothing runs meanwhile. Then:
 *
 *   flotilla restore cluster.fbk --data-dir /var/lib/flotilla
 *   flotilla start --data-dir /var/lib/flotilla          # node 1, every keyspace restored
 *   flotilla start --join --data-dir ...                 # on each other node
 *
 * docs/operations.md, "Backup and restore", and decision 0111 say how it works.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { isPlainToken } from "../../transport/Subjects.js"
import { checkDataDir } from "../DataDir.js"

// Imported when the command runs so that `--help` stays fast.
const lazyRestore = Effect.promise(() => import("../backup/RestoreDataDir.js"))

const file = Args.file({ name: "file", exists: "yes" }).pipe(Args.withDescription("a backup file"))
const dataDir = Options.directory("data-dir").pipe(
  Options.withDescription("the new node's data directory (must not hold a node yet)"),
)
const cluster = Options.text("cluster").pipe(
  Options.withDescription("the new cluster's name (default: the backed-up cluster's)"),
  Options.optional,
)
const name = Options.text("name").pipe(
  Options.withDescription("the new node's display name (default: the host name)"),
  Options.optional,
)
const json = Options.boolean("json").pipe(Options.withDescription("print the outcome as one JSON line"))

/** `flotilla restore`. */
export const restore = Command.make("restore", { file, dataDir, cluster, name, json }, (o) =>
  Effect.gen(function* () {
    if (Option.isSome(o.cluster) && !isPlainToken(o.cluster.value))
      return yield* Effect.fail(
        new Error(
          `cluster name ${JSON.stringify(o.cluster.value)} must be one token of letters, digits, '_' and '-'`,
        ),
      )
    const bad = checkDataDir(o.dataDir)
    if (bad !== undefined) return yield* Effect.fail(new Error(bad))
    const r = yield* (yield* lazyRestore).restoreDataDir({
      file: o.file,
      dataDir: o.dataDir,
      ...(Option.isSome(o.cluster) ? { cluster: o.cluster.value } : {}),
      ...(Option.isSome(o.name) ? { name: o.name.value } : {}),
    })
    yield* Console.log(
      o.json
        ? JSON.stringify({ dataDir: o.dataDir, ...r })
        : `restored cluster "${r.cluster}" into ${o.dataDir}: ${r.keyspaces} keyspace(s), ${r.groups} group(s) on node 1; ` +
            `start it with flotilla start --data-dir ${o.dataDir} --cluster ${r.cluster}, then join the other nodes`,
    )
  }),
).pipe(
  Command.withDescription("make node 1 of a new cluster from a backup file (then start it, and join others)"),
)
