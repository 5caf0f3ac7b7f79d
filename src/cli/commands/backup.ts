/**
 * `flotilla backup create|verify`: a consistent backup of a running cluster (every keyspace and
 * the metadata state, each shard read through Raft on its leader) into one file, and the check
 * of such a file. `flotilla restore` (restore.ts) starts a new cluster from it. The file format
 * and the procedure are in docs/operations.md, "Backup and restore".
 *
 *   flotilla backup create --out cluster.fbk
 *   flotilla backup verify cluster.fbk
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect } from "effect"
import { clientFlags, routerLayer } from "../ClientFlags.js"

// Imported when a command runs so that `--help` stays fast.
const lazyCreate = Effect.promise(() => import("../backup/BackupCreate.js"))
const lazyVerify = Effect.promise(() => import("../backup/BackupVerify.js"))

const json = Options.boolean("json").pipe(Options.withDescription("print the outcome as one JSON line"))
const out = Options.file("out").pipe(
  Options.withDescription("the backup file to write (replaced when it exists)"),
)
const file = Args.file({ name: "file", exists: "yes" }).pipe(Args.withDescription("a backup file"))

const create = Command.make("create", { ...clientFlags, json, out }, (o) =>
  Effect.gen(function* () {
    const { createBackup } = yield* lazyCreate
    let sections = 0
    const m = yield* createBackup({
      out: o.out,
      cluster: o.cluster,
      timeoutMs: o.timeoutMs,
      onSection: (name, r) => {
        sections++
        return o.json ? Effect.void : Console.log(`${name}: index ${r.index}, ${r.size} bytes`)
      },
    })
    const shards = m.keyspaces.reduce((n, k) => n + k.shards.length, 0)
    yield* Console.log(
      o.json
        ? JSON.stringify({ file: o.out, cluster: m.cluster, keyspaces: m.keyspaces.length, shards, sections })
        : `backup of cluster "${m.cluster}" written to ${o.out}: ${m.keyspaces.length} keyspace(s), ${shards} shard(s)`,
    )
  }).pipe(Effect.provide(routerLayer(o))),
).pipe(
  Command.withDescription(
    "back up every keyspace and the metadata state into one file (operator; each shard read through Raft)",
  ),
)

const verify = Command.make("verify", { json, file }, (o) =>
  Effect.gen(function* () {
    const r = yield* (yield* lazyVerify).verifyBackup(o.file)
    if (o.json)
      yield* Console.log(
        JSON.stringify({
          file: o.file,
          ok: r.problems.length === 0,
          sections: r.sections,
          problems: r.problems,
        }),
      )
    else for (const p of r.problems) yield* Console.error(p)
    if (r.problems.length > 0)
      return yield* Effect.fail(new Error(`backup ${o.file} is damaged: ${r.problems.length} problem(s)`))
    if (!o.json)
      yield* Console.log(
        `backup ${o.file} is sound: cluster "${r.manifest.cluster}", ${r.sections} section(s), ${r.bytes} bytes of state, taken ${r.manifest.createdAt}`,
      )
  }),
).pipe(Command.withDescription("check a backup file's structure and every checksum (exit 1 on damage)"))

/** `flotilla backup`. */
export const backup = Command.make("backup").pipe(
  Command.withDescription("back up a cluster into one file, and verify such a file"),
  Command.withSubcommands([create, verify]),
)
