/**
 * Range scans over the entity ids of one shard, generic for every kind: both the shard side
 * (run a scan over the entity table, build the reply) and the client side (encode the
 * request, decode the reply with the kind's state schema).
 *
 * A scan reads, in byte order, the stored entities whose id is in `[start, end)`, starts
 * with `prefix`, and sorts after `after` (every bound optional), at most `limit` of them and
 * at most `MAX_SCAN_REPLY_BYTES` of encoded entries (always at least one entry when any is in
 * range, so a page always makes progress). The reply carries a continuation token when more
 * entries may remain: pass it back as `after` to read the next page. TOKENS ARE OPAQUE; today
 * a token is the last id returned.
 *
 * Reply body (CBOR): `[entries, continuation | null]`, each entry `[id, state]` (state
 * Schema-encoded) or `[id]` when the scan asked for ids only.
 */
import { Either } from "effect"
import * as Cbor from "./Cbor.js"
import { EntityUnavailable, ReplyUndecodable } from "./EntityClient.js"
import { type EntityError, InvalidScan } from "./EntityError.js"
import { compare, prefixEnd } from "./EntityId.js"
import type { AnyProtocol, StateOf } from "./EntityKind.js"
import type { OrderedMap } from "./OrderedMap.js"
import * as Wire from "./Wire.js"

/** Budget of the encoded entries of one page (the reply stays under NATS's 1 MiB). */
export const MAX_SCAN_REPLY_BYTES = 900 * 1024

/** Runs a scan over `entities`; `encodeState` gives the CBOR bytes of a stored state. */
export const run = <S>(
  entities: OrderedMap<S>,
  range: Wire.ScanRange,
  encodeState: (state: S) => Uint8Array,
): Either.Either<Uint8Array, EntityError> => {
  if (range.limit < 1 || range.limit > Wire.MAX_SCAN_LIMIT)
    return Either.left(
      new InvalidScan({ reason: `limit ${range.limit} is outside 1..${Wire.MAX_SCAN_LIMIT}` }),
    )
  let lower = range.start
  if (range.prefix !== undefined && (lower === undefined || compare(range.prefix, lower) > 0))
    lower = range.prefix
  let exclusive = false
  if (range.after !== undefined && (lower === undefined || compare(range.after, lower) >= 0)) {
    lower = range.after
    exclusive = true
  }
  let upper = range.end
  const prefixUpper = range.prefix === undefined ? undefined : prefixEnd(range.prefix)
  if (prefixUpper !== undefined && (upper === undefined || compare(prefixUpper, upper) < 0))
    upper = prefixUpper
  const inRange = (id: Uint8Array) => upper === undefined || compare(id, upper) < 0

  const entries: Cbor.Raw[] = []
  let bytes = 0
  let last: Uint8Array | undefined
  let more = false
  for (const [id, state] of entities.entriesFrom(lower, exclusive)) {
    if (!inRange(id)) break
    if (entries.length >= range.limit) {
      more = true
      break
    }
    const entry = Cbor.encode(range.values ? [id, new Cbor.Raw(encodeState(state))] : [id])
    if (entries.length > 0 && bytes + entry.length > MAX_SCAN_REPLY_BYTES) {
      more = true
      break
    }
    entries.push(new Cbor.Raw(entry))
    bytes += entry.length
    last = id
  }
  return Either.right(Wire.successReply([entries, more && last !== undefined ? last : null]))
}

/** One entry of a decoded scan page. */
export interface ScanEntry<S> {
  readonly id: Uint8Array
  /** Present when the scan asked for values. */
  readonly state?: S
}

/** A decoded scan page. */
export interface ScanPage<S> {
  readonly entries: ReadonlyArray<ScanEntry<S>>
  /** Pass as `after` to read the next page; `undefined` at the end of the range. */
  readonly continuation: Uint8Array | undefined
}

/** The request bytes of a scan of kind `protocol`'s shard. */
export const encodeRequest = (
  protocol: AnyProtocol,
  range: Wire.ScanRange,
  options?: { readonly staleRead?: boolean },
): Uint8Array => Wire.encodeRequest({ type: "scan", kind: protocol.name, range }, options)

/** Decodes a scan reply with the kind's state schema. */
export const decodeReply = <P extends AnyProtocol>(
  protocol: P,
  reply: Uint8Array,
): Either.Either<ScanPage<StateOf<P>>, EntityError | EntityUnavailable | ReplyUndecodable> => {
  const undecodable = (reason: string) => Either.left(new ReplyUndecodable({ operation: "Scan", reason }))
  const envelope = Wire.decodeReply(reply)
  if (Either.isLeft(envelope)) return undecodable(envelope.left)
  const { status, body } = envelope.right
  if (status === Wire.ReplyStatus.SystemError)
    return Either.match(Wire.decodeEntityErrorBody(body), {
      onLeft: undecodable,
      onRight: (e) => Either.left(e),
    })
  if (status === Wire.ReplyStatus.RuntimeError)
    return Either.match(Wire.decodeRuntimeErrorBody(body), {
      onLeft: undecodable,
      onRight: (e) =>
        Either.left(new EntityUnavailable({ kind: protocol.name, operation: "Scan", reason: e.message })),
    })
  if (status !== Wire.ReplyStatus.Success) return undecodable(`unexpected status ${status}`)
  if (!Array.isArray(body) || body.length !== 2)
    return undecodable("a scan reply is not [entries, continuation]")
  const [rawEntries, continuation] = body as ReadonlyArray<Cbor.CborValue>
  if (!Array.isArray(rawEntries)) return undecodable("scan entries are not an array")
  if (continuation !== null && !(continuation instanceof Uint8Array))
    return undecodable("the continuation is neither bytes nor null")
  const entries: ScanEntry<StateOf<P>>[] = []
  for (const e of rawEntries as ReadonlyArray<Cbor.CborValue>) {
    if (!Array.isArray(e) || e.length < 1 || e.length > 2 || !(e[0] instanceof Uint8Array))
      return undecodable("a scan entry is not [id] or [id, state]")
    if (e.length === 1) {
      entries.push({ id: e[0] })
      continue
    }
    const state = protocol.state.decode(e[1])
    if (Either.isLeft(state)) return undecodable(`a scanned state does not decode: ${state.left}`)
    entries.push({ id: e[0], state: state.right as StateOf<P> })
  }
  return Either.right({ entries, continuation: continuation ?? undefined })
}
