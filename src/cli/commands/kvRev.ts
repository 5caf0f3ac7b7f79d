/**
 * `flotilla kv watch|txn|lease`: the revisioned KV store from the shell.
 *
 *   flotilla kv watch user-                       # one line per event, until interrupted
 *   flotilla kv watch '{cart}' --from 1           # every event of one hash tag's shard from revision 1
 *   flotilla kv txn '{"compare":[{"key":"{a}x","target":"version","result":"=","number":0}],
 *                     "success":[{"op":"put","key":"{a}x","value":"1"}]}'
 *   flotilla kv lease grant '{a}' 10000           # prints the lease id
 *   flotilla kv lease revoke '{a}' 1234
 *
 * `watch` prints `revision<TAB>group<TAB>put|delete<TAB>key<TAB>value` (base64 with `--base64`
 * or when not UTF-8); `txn` takes the JSON of the gateway's `txn` op (docs/protocol.md) and
 * prints the outcome as JSON.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Either, Layer, Option, Stream } from "effect"
import * as KvClient from "../../client/KvClient.js"
import * as KvRevClient from "../../client/KvRevClient.js"
import * as KvWatch from "../../client/KvWatch.js"
import * as GatewayRevOps from "../../node/GatewayRevOps.js"
import { type ClientFlags, clientFlags, routerLayer } from "../ClientFlags.js"

const withRev = <A, E>(flags: ClientFlags, f: (kv: KvRevClient.KvRevClientService) => Effect.Effect<A, E>) =>
  Effect.flatMap(KvRevClient.KvRevClient, f).pipe(
    Effect.provide(KvRevClient.layer.pipe(Layer.provide(routerLayer(flags)))),
  )

const show = (bytes: Uint8Array, b64: boolean): string =>
  (b64 ? undefined : KvClient.toText(bytes)) ?? Buffer.from(bytes).toString("base64")

const base64 = Options.boolean("base64").pipe(Options.withDescription("print keys and values as base64"))
const from = Options.integer("from").pipe(
  Options.withDescription("first revision to print, in every shard watched (default: from now)"),
  Options.optional,
)
const exact = Options.boolean("exact").pipe(Options.withDescription("watch exactly this key, not a prefix"))

const watch = Command.make(
  "watch",
  { ...clientFlags, base64, from, exact, prefix: Args.text({ name: "prefix" }) },
  (o) =>
    withRev(o, (kv) =>
      KvWatch.watch(kv.router, o.prefix, {
        exact: o.exact,
        ...(Option.isSome(o.from) ? { fromRevision: o.from.value } : {}),
      }).pipe(
        Stream.runForEach((e) =>
          Console.log(
            [
              e.revision,
              e.group,
              e.type,
              show(e.key, o.base64),
              e.value === null ? "" : show(e.value, o.base64),
            ].join("\t"),
          ),
        ),
      ),
    ),
).pipe(Command.withDescription("print every put and delete under a prefix as it happens (until interrupted)"))

const txn = Command.make("txn", { ...clientFlags, json: Args.text({ name: "json" }) }, (o) =>
  withRev(o, (kv) =>
    Effect.gen(function* () {
      const t = GatewayRevOps.decodeTxn(o.json)
      if (Either.isLeft(t)) return yield* Effect.fail(new Error(`not a transaction: ${t.left}`))
      const r = yield* kv.txn(t.right)
      const kvJson = (k: { key: Uint8Array; value: Uint8Array } | null) =>
        k === null ? null : { ...k, key: show(k.key, false), value: show(k.value, false) }
      yield* Console.log(
        JSON.stringify({
          succeeded: r.succeeded,
          revision: r.revision,
          results: r.results.map((x) =>
            x.op === "get" ? { op: "get", kv: kvJson(x.kv) } : { ...x, prev: kvJson(x.prev) },
          ),
        }),
      )
    }),
  ),
).pipe(Command.withDescription("run a transaction (JSON: compare, success, failure) within one hash slot"))

const routeKey = Args.text({ name: "route-key" }).pipe(
  Args.withDescription("a key of the lease's hash slot (its keys must share the slot)"),
)
const leaseId = Args.integer({ name: "lease" })
const leaseOf = (o: { routeKey: string; lease: number }) => ({
  id: o.lease,
  ttlMs: 1,
  routeKey: new TextEncoder().encode(o.routeKey),
})

const grant = Command.make(
  "grant",
  { ...clientFlags, routeKey, ttlMs: Args.integer({ name: "ttl-ms" }) },
  (o) => withRev(o, (kv) => Effect.flatMap(kv.grant(o.routeKey, o.ttlMs), (l) => Console.log(String(l.id)))),
).pipe(Command.withDescription("grant a lease; prints its id"))

const keepalive = Command.make("keepalive", { ...clientFlags, routeKey, lease: leaseId }, (o) =>
  withRev(o, (kv) => Effect.zipRight(kv.keepAlive(leaseOf(o)), Console.log("kept alive"))),
).pipe(Command.withDescription("restart a lease's time to live"))

const revoke = Command.make("revoke", { ...clientFlags, routeKey, lease: leaseId }, (o) =>
  withRev(o, (kv) =>
    Effect.flatMap(kv.revoke(leaseOf(o)), (r) => Console.log(`revoked, ${r.deleted} key(s) deleted`)),
  ),
).pipe(Command.withDescription("end a lease and delete its keys"))

/** `flotilla kv watch`, `flotilla kv txn`, `flotilla kv lease ...`. */
export const revCommands = [
  watch,
  txn,
  Command.make("lease").pipe(
    Command.withDescription("leases: grant, keepalive, revoke"),
    Command.withSubcommands([grant, keepalive, revoke]),
  ),
] as const
