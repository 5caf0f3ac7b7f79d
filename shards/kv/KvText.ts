/**
 * UTF-8 conveniences over the KV store, for keys and values that are text:
 *
 *   yield* KvText.client("greeting").put("hello")
 *   const v = yield* KvText.client("greeting").get()       // "hello" | null
 *
 * Keys and values are stored as their UTF-8 bytes, so text and byte clients see the same
 * data. Reading a value that is not valid UTF-8 through this module fails with `NotUtf8`
 * rather than returning replacement characters.
 */
import { Data, Effect } from "effect"
import type { EntityClient } from "../../src/runtime/entity/index.js"
import { EntityId } from "../../src/runtime/entity/index.js"
import { type CasResult, Kv, type KvPage, MAX_VALUE_BYTES, ValueTooLarge } from "./Kv.js"

/** A stored value is not valid UTF-8. */
export class NotUtf8 extends Data.TaggedError("NotUtf8")<{ readonly key: string }> {}

/** The UTF-8 bytes of a string. */
export const encode = (text: string): Uint8Array => EntityId.fromString(text)

/** The text of UTF-8 bytes; `undefined` when they are not valid UTF-8. */
export const decode = (bytes: Uint8Array): string | undefined => EntityId.toStringStrict(bytes)

const decodeValue = (key: string, bytes: Uint8Array | null): Effect.Effect<string | null, NotUtf8> => {
  if (bytes === null) return Effect.succeed(null)
  const text = decode(bytes)
  return text === undefined ? Effect.fail(new NotUtf8({ key })) : Effect.succeed(text)
}

/** The bytes of a value; fails fast, before anything is sent, when it is over the limit. */
const checked = (value: string): Effect.Effect<Uint8Array, ValueTooLarge> => {
  const bytes = encode(value)
  return bytes.length > MAX_VALUE_BYTES
    ? Effect.fail(new ValueTooLarge({ size: bytes.length, limit: MAX_VALUE_BYTES }))
    : Effect.succeed(bytes)
}

/** The outcome of a text compare-and-set. */
export type TextCasResult =
  | { readonly succeeded: true }
  | { readonly succeeded: false; readonly current: string | null }

/** A text client of one key. */
export const client = (key: string, options?: EntityClient.ClientOptions) => {
  const kv = Kv.client(key, options)
  return {
    /** Sets the value; `created` says whether the key was absent. */
    put: (value: string) => Effect.flatMap(checked(value), (bytes) => kv.Put({ value: bytes })),
    /** The value, or null when the key is absent. */
    get: () => Effect.flatMap(kv.Get(), (bytes) => decodeValue(key, bytes)),
    /** Removes the key; `deleted` says whether it was present. */
    delete: () => kv.Delete(),
    /** Sets `value` (null: deletes) if the current value is `expected` (null: absent). */
    cas: (expected: string | null, value: string | null) =>
      Effect.gen(function* () {
        const result: CasResult = yield* kv.Cas({
          expected: expected === null ? null : encode(expected),
          value: value === null ? null : yield* checked(value),
        })
        if (result.succeeded) return result as TextCasResult
        return { succeeded: false, current: yield* decodeValue(key, result.current) } as TextCasResult
      }),
  }
}

/** A scan range with text bounds (each encoded as UTF-8). */
export interface TextRange {
  readonly start?: string
  readonly end?: string
  readonly prefix?: string
  /** A continuation token from a previous page. */
  readonly after?: Uint8Array
  readonly limit: number
}

/** The byte range of a text range, for `Kv.scanRequest`. */
export const range = (r: TextRange) => ({
  start: r.start === undefined ? undefined : encode(r.start),
  end: r.end === undefined ? undefined : encode(r.end),
  prefix: r.prefix === undefined ? undefined : encode(r.prefix),
  after: r.after,
  limit: r.limit,
})

/** The entries of a scan page as text (entries that are not valid UTF-8 shown with U+FFFD). */
export const pageText = (page: KvPage): ReadonlyArray<readonly [string, string]> =>
  page.entries.map((e) => [EntityId.toStringLenient(e.key), EntityId.toStringLenient(e.value)] as const)
