/**
 * JSON through Schema, as bytes: the metadata group's wire and snapshot format. Decoding
 * reports malformed input as a `MalformedRequest` whose message depends only on the input and
 * on this code, never on the JavaScript engine's wording of a JSON syntax error: every replica,
 * on any Node.js version, answers the same bytes with the same response.
 */
import { Either, ParseResult, Schema } from "effect"
import { MalformedRequest } from "./MetaErrors.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** `value` as UTF-8 JSON bytes, through `schema`. */
export const encodeJson =
  <A, I>(schema: Schema.Schema<A, I>) =>
  (value: A): Uint8Array =>
    encoder.encode(JSON.stringify(Schema.encodeSync(schema)(value)))

/** UTF-8 JSON bytes as a value, or "not JSON". */
export const parseJson = (bytes: Uint8Array): Either.Either<unknown, MalformedRequest> => {
  try {
    return Either.right(JSON.parse(decoder.decode(bytes)))
  } catch {
    return Either.left(new MalformedRequest({ message: "not JSON" }))
  }
}

/** A parsed JSON value decoded through `schema`, or why not. */
export const decodeJsonValue =
  <A, I>(schema: Schema.Schema<A, I>) =>
  (raw: unknown): Either.Either<A, MalformedRequest> =>
    Either.mapLeft(
      Schema.decodeUnknownEither(schema)(raw),
      (e) => new MalformedRequest({ message: describeParseError(e) }),
    )

/** UTF-8 JSON bytes decoded through `schema`, or why not. */
export const decodeJson =
  <A, I>(schema: Schema.Schema<A, I>) =>
  (bytes: Uint8Array): Either.Either<A, MalformedRequest> =>
    Either.flatMap(parseJson(bytes), decodeJsonValue(schema))

/** UTF-8 JSON bytes decoded through `schema`; throws on anything else. */
export const decodeJsonOrThrow =
  <A, I>(schema: Schema.Schema<A, I>) =>
  (bytes: Uint8Array): A => {
    const decoded = decodeJson(schema)(bytes)
    if (Either.isLeft(decoded)) throw new Error(`malformed ${String(schema.ast)}: ${decoded.left.message}`)
    return decoded.right
  }

/** A short description of a decode failure: the first issue and where it is. */
const describeParseError = (error: ParseResult.ParseError): string => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  if (issue === undefined) return "malformed"
  const path = issue.path.map(String).join(".")
  return `${path === "" ? "" : `at ${path}: `}${issue.message}`.slice(0, 500)
}
