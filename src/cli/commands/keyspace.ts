/**
 * `flotilla keyspace create|list|set-replication|delete`: keyspaces of a cluster started with
 * `flotilla start` (`flotilla dev` creates its own). All go through the metadata group.
 * `delete` destroys every key of the keyspace for good, so it wants `--yes` (decision 0105).
 *
 *   flotilla keyspace create kv --shards 16             # the KV store's keyspace, 16 shards
 *   flotilla keyspace create counters --kind Counter --shards 4 --replication 3
 *   flotilla keyspace list
 *   flotilla keyspace delete counters --yes
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect } from "effect"
import { MAX_REPLICATION_FACTOR } from "../../meta/CommandChecks.js"
import { SLOT_COUNT } from "../../meta/Slots.js"
import { clientFlags, routerLayer } from "../ClientFlags.js"
import { describeError } from "../Failure.js"
import { integerIn } from "../IntegerFlags.js"
import { table } from "../Table.js"

// Imported when a command runs so that `--help` stays fast.
const lazyRouter = Effect.promise(() => import("../../client/Router.js"))

const name = Args.text({ name: "name" }).pipe(Args.withDescription("the keyspace's name"))
const shards = integerIn("shards", 1, SLOT_COUNT).pipe(
  Options.withDescription(`number of shards (Raft groups), 1..${SLOT_COUNT}`),
  Options.withDefault(4),
)
const replication = integerIn("replication", 1, MAX_REPLICATION_FACTOR).pipe(
  Options.withDescription("replicas per shard (default: the cluster's replication factor)"),
  Options.optional,
)
const kind = Options.text("kind").pipe(
  Options.withDescription("the state machine kind its shards run (kv: the KV store); a node must host it"),
  Options.withDefault("kv"),
)

const create = Command.make("create", { ...clientFlags, name, shards, replication, kind }, (o) =>
  Effect.gen(function* () {
    const router = yield* (yield* lazyRouter).Router
    const r = yield* router.meta({
      _tag: "CreateKeyspace",
      name: o.name,
      shards: o.shards,
      replicationFactor: o.replication._tag === "Some" ? o.replication.value : 0,
      kind: o.kind,
    })
    if (r._tag === "UnknownKind")
      return yield* Effect.fail(
        new Error(
          `keyspace ${o.name} not created: no node hosts kind "${r.kind}" (the nodes host: ${r.hosted.join(", ") || "nothing"}); ` +
            "start nodes that host it first",
        ),
      )
    if (r._tag !== "KeyspaceCreated")
      return yield* Effect.fail(new Error(`keyspace ${o.name} not created: ${describeError(r)}`))
    yield* Console.log(`keyspace ${r.name}: ${r.groups.length} shard(s), groups ${r.groups.join(", ")}`)
  }).pipe(Effect.provide(routerLayer(o))),
).pipe(Command.withDescription("create a keyspace (its shards are placed on the cluster's nodes)"))

const list = Command.make("list", { ...clientFlags }, (o) =>
  Effect.gen(function* () {
    const view = yield* (yield* (yield* lazyRouter).Router).refresh()
    const rows = [...view.keyspaces].map(([ks, ranges]) => {
      const first = view.groups.get(ranges[0]?.group ?? -1)
      const kindOf = [...view.byKind].find(([, names]) => names.includes(ks))?.[0] ?? "?"
      return [ks, kindOf, String(ranges.length), String(first?.replicas.length ?? 0)]
    })
    yield* Console.log(
      rows.length === 0
        ? `no keyspaces (shard map v${view.version}): create one with flotilla keyspace create`
        : table(["KEYSPACE", "KIND", "SHARDS", "REPLICAS"], rows),
    )
  }).pipe(Effect.provide(routerLayer(o))),
).pipe(Command.withDescription("list the keyspaces: kind, shards, replicas per shard"))

const factor = Args.integer({ name: "replicas" }).pipe(
  Args.withDescription(`voters per shard, 1..${MAX_REPLICATION_FACTOR}`),
)
const json = Options.boolean("json").pipe(Options.withDescription("print the answer as one JSON line"))

const setReplication = Command.make("set-replication", { ...clientFlags, json, name, factor }, (o) =>
  Effect.gen(function* () {
    if (!Number.isSafeInteger(o.factor) || o.factor < 1 || o.factor > MAX_REPLICATION_FACTOR)
      return yield* Effect.fail(
        new Error(`replicas must be in 1..${MAX_REPLICATION_FACTOR}, got ${o.factor}`),
      )
    const r = yield* (yield* (yield* lazyRouter).Router).meta({
      _tag: "SetReplicationFactor",
      keyspace: o.name,
      replicationFactor: o.factor,
    })
    if (r._tag !== "Done")
      return yield* Effect.fail(new Error(`keyspace ${o.name}: replication not changed: ${describeError(r)}`))
    yield* Console.log(
      o.json
        ? JSON.stringify({ keyspace: o.name, replicationFactor: o.factor })
        : `keyspace ${o.name}: ${o.factor} replica(s) per shard (the planner adds or removes voters to match)`,
    )
  }).pipe(Effect.provide(routerLayer(o))),
).pipe(Command.withDescription("change the number of voters of every shard of a keyspace"))

const yes = Options.boolean("yes").pipe(
  Options.withDescription("confirm: every key of the keyspace is destroyed, on every node"),
)

const remove = Command.make("delete", { ...clientFlags, json, name, yes }, (o) =>
  Effect.gen(function* () {
    if (!o.yes)
      return yield* Effect.fail(
        new Error(
          `keyspace delete destroys every key of "${o.name}" for good; run it again with --yes to confirm`,
        ),
      )
    const r = yield* (yield* (yield* lazyRouter).Router).meta({ _tag: "DeleteKeyspace", name: o.name })
    if (r._tag === "UnknownKeyspace")
      return yield* Effect.fail(new Error(`keyspace ${o.name} not deleted: no such keyspace`))
    if (r._tag !== "KeyspaceDeleted")
      return yield* Effect.fail(new Error(`keyspace ${o.name} not deleted: ${describeError(r)}`))
    yield* Console.log(
      o.json
        ? JSON.stringify({ keyspace: r.name, groups: r.groups })
        : `keyspace ${r.name} deleted: groups ${r.groups.join(", ")} (their replicas are removed from the nodes)`,
    )
  }).pipe(Effect.provide(routerLayer(o))),
).pipe(Command.withDescription("delete a keyspace and all its data, for good (needs --yes)"))

/** `flotilla keyspace`. */
export const keyspace = Command.make("keyspace").pipe(
  Command.withDescription("create, list and delete keyspaces, change their replication"),
  Command.withSubcommands([create, list, setReplication, remove]),
)
