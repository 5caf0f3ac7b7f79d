/**
 * The checks every JSON request on a node's endpoints (KV gateway, meta, admin) passes BEFORE
 * it is parsed into objects: a size limit, strict UTF-8, a nesting-depth limit and no lone
 * UTF-16 surrogate in an escape (issue 11, findings 5 and 9). The depth and surrogate checks are
 * one linear scan over the text that tracks only whether it is inside a string and how deep it
 * is, so a 3,000-deep request costs one pass and never reaches a recursive parser or a recursive
 * error formatter, and a `"\ud800"` key is refused instead of being stored as U+FFFD.
 *
 * Also here: `quoteInput`, the one way an error message quotes input (at most ~200 bytes), and
 * `clipMessage` for messages built by libraries that may quote input themselves.
 */
import { Either } from "effect"

/** Limits of one endpoint's requests. */
export interface JsonLimits {
  /** Largest request in bytes. */
  readonly maxBytes: number
  /** Deepest nesting of objects and arrays (1: a flat object). */
  readonly maxDepth: number
}

/** Why a request was refused before parsing. */
export type JsonRefusalReason = "too-large" | "not-utf8" | "too-deep" | "lone-surrogate" | "not-json"

/** A refused request: the reason and a message for the sender. */
export interface JsonRefusal {
  readonly _tag: "JsonRefusal"
  readonly reason: JsonRefusalReason
  readonly message: string
}

/** Bytes of input an error message quotes at most. */
export const MAX_QUOTED_BYTES = 200
/** Characters of an error message at most (library messages may quote input). */
export const MAX_MESSAGE_CHARS = 400

const refusal = (reason: JsonRefusalReason, message: string): Either.Either<never, JsonRefusal> =>
  Either.left({ _tag: "JsonRefusal", reason, message })

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/**
 * A value as JSON (a string as a JSON string literal), cut to about `MAX_QUOTED_BYTES` and then
 * marked with an ellipsis and the full length.
 */
export const quoteInput = (value: unknown): string => {
  const s = JSON.stringify(value) ?? String(value)
  if (s.length <= MAX_QUOTED_BYTES / 3) return s
  // Cut by UTF-16 units, not inside a pair, until the bytes fit (a unit is at most 3 bytes).
  let end = Math.min(s.length, MAX_QUOTED_BYTES)
  while (end > 0 && Buffer.byteLength(s.slice(0, end)) > MAX_QUOTED_BYTES) end = Math.floor(end * 0.8)
  if (end > 0 && isHighSurrogate(s.charCodeAt(end - 1))) end--
  return end === s.length ? s : `${s.slice(0, end)}… (${s.length} chars)`
}

/** A message cut to `MAX_MESSAGE_CHARS` (for messages a library built from the input). */
export const clipMessage = (message: string): string => {
  if (message.length <= MAX_MESSAGE_CHARS) return message
  let end = MAX_MESSAGE_CHARS
  if (isHighSurrogate(message.charCodeAt(end - 1))) end--
  return `${message.slice(0, end)}… (cut)`
}

const isHighSurrogate = (u: number) => u >= 0xd800 && u <= 0xdbff
const isLowSurrogate = (u: number) => u >= 0xdc00 && u <= 0xdfff

const hexValue = (text: string, at: number): number => {
  if (at + 4 > text.length) return -1
  let v = 0
  for (let i = at; i < at + 4; i++) {
    const c = text.charCodeAt(i)
    const d =
      c >= 0x30 && c <= 0x39
        ? c - 0x30
        : c >= 0x61 && c <= 0x66
          ? c - 0x57
          : c >= 0x41 && c <= 0x46
            ? c - 0x37
            : -1
    if (d < 0) return -1
    v = v * 16 + d
  }
  return v
}

/**
 * Scans JSON text for nesting deeper than `maxDepth` and for `\u` escapes of lone surrogates.
 * Not a validator: syntax errors are left to the parser, which then sees bounded nesting.
 */
export const scanJsonText = (text: string, maxDepth: number): JsonRefusal | undefined => {
  let depth = 0
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      i++
      // Inside a string: only escapes matter.
      while (i < n) {
        const d = text.charCodeAt(i)
        if (d === 0x22) break
        if (d === 0x5c /* \ */) {
          if (text.charCodeAt(i + 1) === 0x75 /* u */) {
            const u = hexValue(text, i + 2)
            if (isLowSurrogate(u)) return lone(u)
            if (isHighSurrogate(u)) {
              const next =
                text.charCodeAt(i + 6) === 0x5c && text.charCodeAt(i + 7) === 0x75
                  ? hexValue(text, i + 8)
                  : -1
              if (!isLowSurrogate(next)) return lone(u)
              i += 12
              continue
            }
            // A malformed escape is the parser's to refuse; step over the backslash only.
            i += u < 0 ? 2 : 6
            continue
          }
          i += 2
          continue
        }
        i++
      }
      i++
      continue
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++
      if (depth > maxDepth)
        return {
          _tag: "JsonRefusal",
          reason: "too-deep",
          message: `the request nests objects and arrays deeper than ${maxDepth} levels`,
        }
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--
    }
    i++
  }
  return undefined
}

const lone = (unit: number): JsonRefusal => ({
  _tag: "JsonRefusal",
  reason: "lone-surrogate",
  message: `the request holds a lone UTF-16 surrogate (\\u${unit.toString(16)}): text must be valid Unicode; send binary keys and values with "encoding":"base64"`,
})

/** The request's text after the size, UTF-8, depth and surrogate checks. */
export const checkJsonBytes = (bytes: Uint8Array, limits: JsonLimits): Either.Either<string, JsonRefusal> => {
  if (bytes.length > limits.maxBytes)
    return refusal("too-large", `the request is ${bytes.length} bytes, the limit is ${limits.maxBytes}`)
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    return refusal("not-utf8", "the request is not UTF-8 text")
  }
  const refused = scanJsonText(text, limits.maxDepth)
  return refused === undefined ? Either.right(text) : Either.left(refused)
}

/** The checks of `checkJsonBytes`, then `JSON.parse`. NEVER throws. */
export const parseGuardedJson = (
  bytes: Uint8Array,
  limits: JsonLimits,
): Either.Either<unknown, JsonRefusal> =>
  Either.flatMap(checkJsonBytes(bytes, limits), (text) => {
    try {
      return Either.right(JSON.parse(text) as unknown)
    } catch {
      return refusal("not-json", "the request is not JSON")
    }
  })
