/**
 * The KV gateway: JSON requests on `<prefix>.<c>.kv`, served by every node that runs this
 * layer, in the queue group `kv` (NATS hands each request to one of them). Each request is
 * validated (GatewayProtocol.ts) and routed inside the cluster by the same core as every
 * client (`Router`, `KvClient`): sessions, retries and deadlines included. So
 *
 *   nats req flotilla.dev.kv '{"op":"put","key":"a","value":"1"}'
 *
 * works from the NATS command-line tool. A bad request gets
 * `{"ok":false,"error":"BadRequest","message":...}` at once: it never reaches a shard, a log
 * or the node's engine, and no request can make the gateway throw (a defect becomes an
 * `Internal` reply and a log line).
 *
 * Requests are handled concurrently (up to `concurrency`, default 1,024), each answered as
 * soon as it completes; at most `maxPending` (default 4,096) are held at once, and a request
 * beyond that is answered `Overloaded` at once (BoundedServe.ts). Size, nesting and
 * lone-surrogate limits are checked before a request is parsed (JsonGuard.ts), and an error
 * message quotes at most ~200 bytes of the request.
 */
import { Duration, Effect, type Either, Layer, Option } from "effect"
import * as KvClient from "../client/KvClient.js"
import * as KvRevClient from "../client/KvRevClient.js"
import * as Router from "../client/Router.js"
import { Node } from "../runtime/Node.js"
import { Bus, type BusClosed, type InvalidSubject } from "../transport/Bus.js"
import { KV_QUEUE_GROUP } from "../transport/Subjects.js"
import { serveBounded } from "./BoundedServe.js"
import * as Gateway from "./GatewayProtocol.js"
import * as GatewayRevOps from "./GatewayRevOps.js"
import type { JsonRefusal } from "./JsonGuard.js"
import { NodeObservations } from "./NodeObservations.js"

/** Options of the gateway. */
export interface KvGatewayOptions {
  readonly cluster: string
  readonly subjectPrefix?: string
  /** Requests handled at once (default 1,024). */
  readonly concurrency?: number
  /** Requests held at once, handled or waiting, before `Overloaded` (default 4,096). */
  readonly maxPending?: number
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
  /** Told each request's operation ("invalid" for an unreadable request) once it is known. */
  onOp?: (op: string) => void,
): Effect.Effect<Reply> => handleParsed(kv, Gateway.parseRequest(data), maxReplyBytes, onOp)

/** `handle` of a request already parsed by `Gateway.parseRequest`. */
const handleParsed = (
  kv: KvClient.KvClientService,
  parsed: Either.Either<unknown, JsonRefusal>,
  maxReplyBytes: number,
  onOp?: (op: string) => void,
): Effect.Effect<Reply> => {
  const decoded = Gateway.decodeParsed(parsed)
  onOp?.(decoded._tag === "Left" ? "invalid" : decoded.right.op)
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
      // On a node, the groups it leads are served in-process: no bus round trip (decision 0057).
      const node = yield* Effect.serviceOption(Node)
      const router = Router.makeWith(bus, {
        ...options.router,
        ...(Option.isSome(node) ? { localGroups: node.value } : {}),
        cluster: options.cluster,
        ...(options.subjectPrefix === undefined ? {} : { subjectPrefix: options.subjectPrefix }),
      })
      const kv = KvClient.make(router)
      const rev = KvRevClient.make(router)
      const json = (reply: Reply) => encoder.encode(JSON.stringify(reply))
      const concurrency = options.concurrency ?? 1024
      const observations = yield* Effect.serviceOption(NodeObservations)
      if (Option.isSome(observations)) observations.value.gatewaySessions = router.sessionsOpen
      const reply = (data: Uint8Array, onOp?: (op: string) => void): Effect.Effect<Reply> => {
        // Parsed once: the revisioned ops first, then the basic ones.
        const parsed = Gateway.parseRequest(data)
        const revOp = GatewayRevOps.route(rev, parsed, failure)
        if (revOp !== undefined) onOp?.("rev")
        return revOp ?? handleParsed(kv, parsed, bus.maxPayload(), onOp)
      }
      // Latency by operation and outcome, for the node's metrics (NodeObservations).
      const timed = (data: Uint8Array): Effect.Effect<Reply> => {
        if (Option.isNone(observations)) return reply(data)
        const latencies = observations.value.gateway
        let op = "invalid"
        return Effect.timed(
          reply(data, (o) => {
            op = o
          }),
        ).pipe(
          Effect.map(([took, r]) => {
            const outcome = r.ok === true ? "ok" : String(r.error ?? "error")
            latencies.observe(op, outcome, Duration.toMillis(took) / 1000)
            return r
          }),
        )
      }
      yield* serveBounded(
        bus,
        router.subjects.kv,
        {
          queue: KV_QUEUE_GROUP,
          concurrency,
          maxPending: Math.max(concurrency, options.maxPending ?? 4096),
        },
        {
          name: "kv gateway",
          handle: (data) => Effect.map(timed(data), json),
          overloaded: () =>
            json(Gateway.errorReply("Overloaded", "the gateway of this node is full; retry with backoff")),
          internal: () => json(Gateway.errorReply("Internal", "the gateway failed to handle the request")),
        },
      )
    }),
  )
