/**
 * `flotilla kv get|put|del|scan`: the KV store from the shell, through the typed client (the
 * same routing core as applications: shard map, sessions, retries).
 *
 *   flotilla kv put greeting hello        # created
 *   flotilla kv get greeting              # hello
 *   flotilla kv scan --prefix user- --limit 20
 *   flotilla kv del greeting              # deleted
 *
 * `get` of an absent key prints nothing on stdout, says so on stderr and exits with status 1.
 * `--base64` reads and writes keys and values as base64 (binary data).
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Layer, Option } from "effect"
import type * as KvClient from "../../client/KvClient.js"
import { type ClientFlags, clientFlags, routerLayer } from "../ClientFlags.js"
import { clientHint, describeError } from "../Failure.js"
import { integerIn } from "../IntegerFlags.js"
import { revCommands } from "./kvRev.js"

const base64 = Options.boolean("base64").pipe(
  Options.withDescription("keys and values are base64 (binary data) instead of UTF-8 text"),
)
const stale = Options.boolean("stale").pipe(
  Options.withDescription("accept a possibly stale read from any replica (no ReadIndex round)"),
)
const key = Args.text({ name: "key" }).pipe(Args.withDescription("the key"))
const value = Args.text({ name: "value" }).pipe(Args.withDescription("the value"))

/** The bytes of a command-line argument. */
const argBytes = (text: string, b64: boolean): Effect.Effect<Uint8Array, Error> => {
  if (!b64) return Effect.succeed(new TextEncoder().encode(text))
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text))
    return Effect.fail(new Error(`"${text}" is not base64`))
  return Effect.succeed(new Uint8Array(Buffer.from(text, "base64")))
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** The bytes as UTF-8 text, or undefined when they are not UTF-8 (KvClient.toText's rule). */
const toText = (bytes: Uint8Array): string | undefined => {
  try {
    return utf8.decode(bytes)
  } catch {
    return undefined
  }
}

/** Bytes for printing: UTF-8 text, or base64 when asked or when they are not UTF-8. */
const show = (bytes: Uint8Array, b64: boolean): string => {
  if (!b64) {
    const text = toText(bytes)
    if (text !== undefined) return text
  }
  return Buffer.from(bytes).toString("base64")
}

// The client, imported when a command runs so that `--help` stays fast.
const lazyKvClient = Effect.promise(() => import("../../client/KvClient.js"))

const withKv = <A, E>(flags: ClientFlags, f: (kv: KvClient.KvClientService) => Effect.Effect<A, E>) =>
  Effect.flatMap(lazyKvClient, (K) =>
    Effect.flatMap(K.KvClient, f).pipe(Effect.provide(K.layer.pipe(Layer.provide(routerLayer(flags))))),
  ).pipe(
    Effect.mapError((e) => {
      const message = describeError(e)
      const hint = clientHint(message, flags.cluster)
      return hint === undefined ? e : new Error(`${message}; ${hint}`)
    }),
  )

const get = Command.make("get", { ...clientFlags, base64, stale, key }, (o) =>
  withKv(o, (kv) =>
    Effect.gen(function* () {
      const k = yield* argBytes(o.key, o.base64)
      const v = yield* kv.get(k, { staleRead: o.stale })
      if (Option.isNone(v)) return yield* Effect.fail(new Error(`no key ${o.key}`))
      const raw = toText(v.value) === undefined && !o.base64
      if (raw) yield* Console.error("(the value is not UTF-8: printed as base64)")
      yield* Console.log(show(v.value, o.base64))
    }),
  ),
).pipe(Command.withDescription("print the value of a key (exit status 1 when it is absent)"))

const put = Command.make("put", { ...clientFlags, base64, key, value }, (o) =>
  withKv(o, (kv) =>
    Effect.gen(function* () {
      const r = yield* kv.put(yield* argBytes(o.key, o.base64), yield* argBytes(o.value, o.base64))
      yield* Console.log(r.created ? "created" : "updated")
    }),
  ),
).pipe(Command.withDescription("set the value of a key"))

const del = Command.make("del", { ...clientFlags, base64, key }, (o) =>
  withKv(o, (kv) =>
    Effect.gen(function* () {
      const r = yield* kv.delete(yield* argBytes(o.key, o.base64))
      yield* Console.log(r.deleted ? "deleted" : "absent")
    }),
  ),
).pipe(Command.withDescription("delete a key"))

const prefix = Options.text("prefix").pipe(
  Options.withDescription("keys starting with this"),
  Options.optional,
)
const start = Options.text("start").pipe(
  Options.withDescription("keys from this one (inclusive)"),
  Options.optional,
)
const end = Options.text("end").pipe(
  Options.withDescription("keys before this one (exclusive)"),
  Options.optional,
)
const after = Options.text("after").pipe(
  Options.withDescription("continue after this token (printed by the previous page)"),
  Options.optional,
)
const limit = integerIn("limit", 1, 10_000).pipe(
  Options.withDescription("at most this many entries"),
  Options.withDefault(100),
)

const scan = Command.make("scan", { ...clientFlags, base64, stale, prefix, start, end, after, limit }, (o) =>
  withKv(o, (kv) =>
    Effect.gen(function* () {
      const bound = (b: Option.Option<string>) =>
        Option.isSome(b)
          ? Effect.map(argBytes(b.value, o.base64), (x) => x as Uint8Array | undefined)
          : Effect.succeed(undefined)
      const page = yield* kv.scan({
        prefix: yield* bound(o.prefix),
        start: yield* bound(o.start),
        end: yield* bound(o.end),
        after: Option.isSome(o.after) ? yield* argBytes(o.after.value, true) : undefined,
        limit: o.limit,
        staleRead: o.stale,
      })
      if (page.entries.length === 0)
        yield* Console.error(Option.isSome(o.after) ? "(no more keys)" : "(no keys)")
      for (const e of page.entries) yield* Console.log(`${show(e.key, o.base64)}\t${show(e.value, o.base64)}`)
      if (Option.isSome(page.continuation))
        yield* Console.error(`(more: --after ${Buffer.from(page.continuation.value).toString("base64")})`)
    }),
  ),
).pipe(Command.withDescription("list keys and values in key order, across every shard"))

/** `flotilla kv`. */
export const kv = Command.make("kv").pipe(
  Command.withDescription("read and write the KV store: get, put, del, scan, watch, txn, lease"),
  Command.withSubcommands([get, put, del, scan, ...revCommands]),
)
