/**
 * The KV gateway: JSON requests on `<prefix>.<c>.kv`, served by every node that runs this
 * layer, in the queue group `kv` (NATS hands each request to one of them). Each request is
 * validated (GatewayProtocol.ts) and routed inside the cluster by the same core as every
 * client (`Router`, `KvClient`): sessions, retries and deadlines included. So
 *
 *   nats req flotilla.dev.cli.kv '{"op":"put","key":"a","value":"1"}'
 *
 * works from the NATS command-line tool. A bad request gets
 * `{"ok":false,"error":"BadRequest","message":...}` at once: it never reaches a shard, a log
 * or the node's engine, and no request can make the gateway throw (a defect becomes an
 * `Internal` reply and a log line).
 *
 * Requests are handled concurrently (up to `concurrency`, default 1,024), each answered as
 * soon as it completes.
 */
import { Effect, Layer, Option, Stream } from "effect"
import * as KvClient from "../client/KvClient.js"
import * as Router from "../client/Router.js"
import { Bus, type BusClosed, type BusMessage, type InvalidSubject } from "../transport/Bus.js"
import { KV_QUEUE_GROUP } from "../transport/Subjects.js"
import * as Gateway from "./GatewayProtocol.js"

/** Options of the gateway. */
export interface KvGatewayOptions {
  readonly cluster: string
  readonly subjectPrefix?: string
  /** Requests handled at once (default 1,024). */
  readonly concurrency?: number
  /** Settings of the gateway's router (deadlines come from each request's `timeoutMs`). */
  readonly router?: Omit<Router.RouterOptions, "cluster" | "subjectPrefix">
}

const encoder = new TextEncoder()

/** Room left in a reply for everything but scan entries. */
const REPLY_HEADROOM = 4096

type Reply = Record<string, unknown>

const failure = (e: { readonly _tag: string; readonly message: string }): Reply => {
  switch (e._tag) {
    case "Timeout":
    case "Unavailable":
    case "NotUtf8":
      return Gateway.errorReply(e._tag, e.message)
    case "InvalidRequest":
      return Gateway.errorReply("BadRequest", e.message)
    default:
      return Gateway.errorReply("Internal", `${e._tag}: ${e.message}`)
  }
}

const notUtf8 = (what: string) =>
  Gateway.errorReply("NotUtf8", `${what} is not valid UTF-8; ask again with "encoding":"base64"`)

/**
 * Answers one request with `kv`; `maxReplyBytes` bounds the reply (scan pages are cut to fit,
 * with a continuation). Never fails.
 */
export const handle = (
  kv: KvClient.KvClientService,
  data: Uint8Array,
  maxReplyBytes: number,
): Effect.Effect<Reply> => {
  const decoded = Gateway.decodeRequest(data)
  if (decoded._tag === "Left") return Effect.succeed(Gateway.errorReply("BadRequest", decoded.left.message))
  const req = decoded.right
  const enc = req.common.encoding
  const deadline = req.common.timeoutMs
  const run: Effect.Effect<Reply, { readonly _tag: string; readonly message: string }> = (() => {
    switch (req.op) {
      case "get":
        return Effect.map(kv.get(req.key, { deadline, staleRead: req.stale }), (value): Reply => {
          if (Option.isNone(value)) return { ok: true, value: null }
          const text = Gateway.textOf(value.value, enc)
          return text === undefined ? notUtf8("the value") : { ok: true, value: text }
        })
      case "put":
        return Effect.map(
          kv.put(req.key, req.value, { deadline }),
          (r): Reply => ({ ok: true, created: r.created }),
        )
      case "delete":
        return Effect.map(kv.delete(req.key, { deadline }), (r): Reply => ({ ok: true, deleted: r.deleted }))
      case "cas":
        return kv.cas(req.key, req.expected, req.value, { deadline }).pipe(
          Effect.as<Reply>({ ok: true }),
          Effect.catchTag("Conflict", (c) => {
            const current = c.current === null ? null : Gateway.textOf(c.current, enc)
            return Effect.succeed(
              current === undefined
                ? notUtf8("the current value")
                : Gateway.errorReply("Conflict", "the current value is not the expected one", { current }),
            )
          }),
        )
      case "scan":
        return Effect.map(
          kv.scan({
            prefix: req.prefix,
            start: req.start,
            end: req.end,
            after: req.after,
            limit: req.limit,
            staleRead: req.stale,
            deadline,
          }),
          (page) => scanReply(page, enc, maxReplyBytes),
        )
    }
  })()
  return run.pipe(
    Effect.catchAll((e) => Effect.succeed(failure(e))),
    Effect.catchAllDefect((defect) =>
      Effect.as(
        Effect.logError("kv gateway: request failed with a defect", defect),
        Gateway.errorReply("Internal", `the gateway failed: ${String(defect)}`),
      ),
    ),
  )
}

/** A scan page as a reply, cut at the first entry that would overflow `maxReplyBytes`. */
const scanReply = (page: KvClient.KvPage, enc: Gateway.Encoding, maxReplyBytes: number): Reply => {
  const entries: Array<{ key: string; value: string }> = []
  let bytes = 0
  let cutAt: Uint8Array | undefined
  for (const e of page.entries) {
    const key = Gateway.textOf(e.key, enc)
    const value = Gateway.textOf(e.value, enc)
    if (key === undefined || value === undefined)
      return notUtf8(`an entry (key ${JSON.stringify(Gateway.toBase64(e.key))} in base64)`)
    const size = encoder.encode(JSON.stringify({ key, value })).length + 1
    if (entries.length > 0 && bytes + size > maxReplyBytes - REPLY_HEADROOM) {
      cutAt = page.entries[entries.length - 1]!.key
      break
    }
    entries.push({ key, value })
    bytes += size
  }
  const continuation = cutAt ?? Option.getOrUndefined(page.continuation)
  return {
    ok: true,
    entries,
    continuation: continuation === undefined ? null : Gateway.toBase64(continuation),
  }
}

/** Serves the gateway over the `Bus` in context for the layer's lifetime. */
export const layer = (options: KvGatewayOptions): Layer.Layer<never, BusClosed | InvalidSubject, Bus> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const bus = yield* Bus
      const router = Router.makeWith(bus, {
        ...options.router,
        cluster: options.cluster,
        ...(options.subjectPrefix === undefined ? {} : { subjectPrefix: options.subjectPrefix }),
      })
      const kv = KvClient.make(router)
      const sub = yield* bus.subscribe(router.subjects.kv, { queue: KV_QUEUE_GROUP })
      const serveOne = (msg: BusMessage) =>
        handle(kv, msg.data, bus.maxPayload()).pipe(
          Effect.flatMap((reply) => msg.respond(encoder.encode(JSON.stringify(reply)))),
          Effect.catchAll((e) => Effect.logWarning(`kv gateway: reply failed: ${e.message}`)),
        )
      yield* Effect.forkScoped(
        Stream.runDrain(
          Stream.mapEffect(sub.messages, serveOne, {
            concurrency: options.concurrency ?? 1024,
            unordered: true,
          }),
        ),
      )
    }),
  )
