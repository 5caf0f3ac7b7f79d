/**
 * The client's side of the metadata endpoint `<prefix>.<c>.meta` (docs/placement.md,
 * docs/protocol.md): the bytes of the queries a client asks and the decoding of the answers.
 * Requests are `MetaQuery` JSON, answers `MetaQueryResponse` JSON; a node that does not lead
 * the metadata group does not listen, so "no responders" means "no metadata leader now".
 */
import { Either } from "effect"
import { decodeJson } from "../meta/JsonCodec.js"
import * as MetaQuery from "../meta/MetaQuery.js"

/** The request bytes of `GetShardMap` for every keyspace, "anything newer than `knownVersion`?". */
export const getShardMapRequest = (knownVersion: number): Uint8Array =>
  MetaQuery.encodeQuery(MetaQuery.GetShardMap.make({ keyspace: "", knownVersion }))

const decodeAnswer = decodeJson(MetaQuery.MetaQueryResponse)

/** What a shard map request can bring back. */
export type ShardMapAnswer =
  | { readonly _tag: "ShardMap"; readonly map: MetaQuery.ShardMap }
  | { readonly _tag: "NotModified"; readonly version: number }

/** Decodes the answer to `getShardMapRequest`; `Left(reason)` for anything else. */
export const decodeShardMapAnswer = (bytes: Uint8Array): Either.Either<ShardMapAnswer, string> => {
  const answer = decodeAnswer(bytes)
  if (Either.isLeft(answer)) return Either.left(`undecodable metadata answer: ${answer.left.message}`)
  const a = answer.right
  switch (a._tag) {
    case "ShardMap":
      return Either.right({ _tag: "ShardMap", map: a })
    case "NotModified":
      return Either.right({ _tag: "NotModified", version: a.version })
    default:
      return Either.left(`the metadata group answered ${a._tag} to GetShardMap`)
  }
}

/** Decodes any query answer (for `status` and other tools). */
export const decodeQueryAnswer = (bytes: Uint8Array): Either.Either<MetaQuery.MetaQueryResponse, string> =>
  Either.mapLeft(decodeAnswer(bytes), (e) => `undecodable metadata answer: ${e.message}`)
