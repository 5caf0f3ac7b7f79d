/**
 * The client half of SnapshotExport.ts (src/node): finds the leader of a group among the nodes
 * that may host it, opens a linearizable snapshot there and streams its chunks into a sink,
 * checking size and sha256 end to end. Any failure half way (leader change, node gone, chunk
 * lost) starts the group again from its open, until the deadline.
 */
import { createHash } from "node:crypto"
import { Clock, Effect, Either, Schema } from "effect"
import { adminSubject } from "../../node/NodeAdmin.js"
import type { BusService } from "../../transport/Bus.js"
import { BackupError, type SectionHeader } from "./BackupFormat.js"

const OpenReply = Schema.Struct({
  ok: Schema.Literal(true),
  id: Schema.String,
  index: Schema.Number,
  term: Schema.Number,
  size: Schema.Number,
  sha256: Schema.String,
})
const ChunkReply = Schema.Struct({ ok: Schema.Literal(true), data: Schema.String, done: Schema.Boolean })
const ErrorReply = Schema.Struct({
  ok: Schema.Literal(false),
  error: Schema.String,
  message: Schema.String,
  leader: Schema.optional(Schema.Number),
})
const decodeOpen = Schema.decodeUnknownEither(Schema.parseJson(Schema.Union(OpenReply, ErrorReply)))
const decodeChunk = Schema.decodeUnknownEither(Schema.parseJson(Schema.Union(ChunkReply, ErrorReply)))

/** Where a group's bytes go. `begin` (re)starts the group's section: earlier bytes are void. */
export interface GroupSink {
  readonly begin: (header: SectionHeader) => Effect.Effect<void, BackupError>
  readonly write: (chunk: Uint8Array) => Effect.Effect<void, BackupError>
}

/** What `fetchGroup` needs. */
export interface FetchOptions {
  readonly bus: BusService
  readonly cluster: string
  readonly subjectPrefix?: string
  readonly group: number
  /** Nodes that may lead the group, the likeliest first. */
  readonly candidates: ReadonlyArray<number>
  /** Stop retrying the group after this long (a stream under way finishes; each request waits at most 10 s). */
  readonly timeoutMs: number
}

/** A group's section as written. */
export interface Fetched extends SectionHeader {
  readonly sha256: string
}

/** The longest wait for one reply. */
const REQUEST_TIMEOUT_MS = 10_000

const encoder = new TextEncoder()
const decoder = new TextDecoder()

type Attempt = Either.Either<Fetched, string>

/** See the module comment. */
export const fetchGroup = (o: FetchOptions, sink: GroupSink): Effect.Effect<Fetched, BackupError> =>
  Effect.gen(function* () {
    const deadline = (yield* Clock.currentTimeMillis) + o.timeoutMs
    const order = [...new Set(o.candidates)]
    let last = "no node to ask"
    for (let round = 0; ; round++) {
      for (let i = 0; i < order.length; i++) {
        const now = yield* Clock.currentTimeMillis
        if (now >= deadline) break
        const r: Attempt | { readonly leader: number } = yield* attempt(o, order[i]!, deadline - now, sink)
        if ("leader" in r) {
          // Ask the leader the node named next.
          if (r.leader !== order[i]) order.splice(i + 1, 0, r.leader)
          last = `node ${order[i]} does not lead group ${o.group}`
          continue
        }
        if (Either.isRight(r)) return r.right
        last = r.left
      }
      const now = yield* Clock.currentTimeMillis
      if (now >= deadline)
        return yield* new BackupError({
          message: `group ${o.group}: no snapshot within ${o.timeoutMs} ms (last: ${last})`,
        })
      yield* Effect.sleep(Math.min(1000, 50 * 2 ** Math.min(round, 5)))
    }
  })

const call = (o: FetchOptions, node: number, body: unknown, timeoutMs: number) =>
  o.bus
    .request(
      adminSubject(o.cluster, node, o.subjectPrefix, "operator"),
      encoder.encode(JSON.stringify(body)),
      {
        timeout: Math.max(1, Math.min(timeoutMs, REQUEST_TIMEOUT_MS)),
      },
    )
    .pipe(
      Effect.map((bytes) => Either.right(decoder.decode(bytes))),
      Effect.catchAll((e) => Effect.succeed(Either.left(`node ${node}: ${e._tag}`))),
    )

/** One open and its chunks on `node`: the section, a leader hint, or why not. */
const attempt = (
  o: FetchOptions,
  node: number,
  remainingMs: number,
  sink: GroupSink,
): Effect.Effect<Attempt | { readonly leader: number }, BackupError> =>
  Effect.gen(function* () {
    const opened = yield* call(o, node, { op: "snapshot-open", group: o.group }, remainingMs)
    if (Either.isLeft(opened)) return Either.left(opened.left)
    const reply = decodeOpen(opened.right)
    if (Either.isLeft(reply)) return Either.left(`node ${node}: unreadable reply to snapshot-open`)
    const open = reply.right
    if (!open.ok) {
      if (open.error === "NotLeader" && open.leader !== undefined) return { leader: open.leader }
      return Either.left(`node ${node}: ${open.error}: ${open.message}`)
    }
    const header = { group: o.group, index: open.index, term: open.term, size: open.size }
    yield* sink.begin(header)
    const hash = createHash("sha256")
    let offset = 0
    for (;;) {
      // Once open, the stream is not cut by the group's deadline: each chunk gets the full wait.
      const got = yield* call(o, node, { op: "snapshot-chunk", id: open.id, offset }, REQUEST_TIMEOUT_MS)
      const chunk = Either.flatMap(got, (text) =>
        Either.mapLeft(decodeChunk(text), () => `node ${node}: unreadable reply to snapshot-chunk`),
      )
      const part = Either.isLeft(chunk) ? chunk.left : chunk.right
      if (typeof part === "string" || !part.ok) {
        yield* call(o, node, { op: "snapshot-close", id: open.id }, 1000)
        return Either.left(typeof part === "string" ? part : `node ${node}: ${part.error}: ${part.message}`)
      }
      const bytes = Buffer.from(part.data, "base64")
      hash.update(bytes)
      yield* sink.write(bytes)
      offset += bytes.length
      if (part.done) break
      if (bytes.length === 0 || offset > open.size)
        return Either.left(`node ${node}: the chunks make no progress`)
    }
    const digest = hash.digest("hex")
    if (offset !== open.size || digest !== open.sha256)
      return Either.left(
        `node ${node}: group ${o.group}: the bytes received do not match the snapshot's size or sha256`,
      )
    return Either.right({ ...header, sha256: digest })
  })
