/**
 * The client's side of the metadata endpoint `<prefix>.<c>.meta` (docs/protocol.md,
 * src/meta/MetaProtocol.ts): JSON requests tagged by `_tag`, JSON answers. Only the metadata
 * group's leader listens, so "no responders" means "no metadata leader now"; an answer that is
 * a runtime error (`NotLeader`, `ProposalFailed`, ...) means nothing was done. Both are
 * retried by the callers (`MapCache`, `Router.meta`).
 */
import { Either } from "effect"
import { decodeReply, encodeRequest, type MetaReply, type MetaRequest } from "../meta/MetaProtocol.js"
import type { ShardMap } from "../meta/MetaQuery.js"
import { isRetryable } from "./MetaCall.js"

/** The bytes of a request. */
export const requestBytes = (request: MetaRequest): Uint8Array => encodeRequest(request)

/**
 * The request bytes of `GetShardMap` for every keyspace, "anything newer than `knownVersion`?",
 * or of its page `page` of a map too large for one answer (src/meta/ShardMapPages.ts).
 */
export const getShardMapRequest = (knownVersion: number, page = 0): Uint8Array =>
  encodeRequest({ _tag: "GetShardMap", keyspace: "", knownVersion, ...(page > 0 ? { page } : {}) })

/** What an answer means to a client. */
export type Answer =
  /** A definitive answer (a query's, a command's success or its refusal). */
  | { readonly _tag: "Answer"; readonly reply: MetaReply }
  /** Nothing was done; ask again (a runtime error of the node that got the request). */
  | { readonly _tag: "Retry"; readonly reason: string }

/** Classifies answer bytes; `Left(reason)` when they are not a metadata answer at all. */
export const classify = (bytes: Uint8Array): Either.Either<Answer, string> => {
  const reply = decodeReply(bytes)
  if (Either.isLeft(reply)) return Either.left(`undecodable metadata answer: ${reply.left.message}`)
  const r = reply.right
  if (isRetryable(r)) return Either.right({ _tag: "Retry", reason: `the metadata group answered ${r._tag}` })
  return Either.right({ _tag: "Answer", reply: r })
}

/** What a shard map request brings back. */
export type ShardMapAnswer =
  | { readonly _tag: "ShardMap"; readonly map: ShardMap }
  | { readonly _tag: "NotModified"; readonly version: number }

/** The shard map in an answer; `Left(reason)` for any other answer. */
export const shardMapOf = (reply: MetaReply): Either.Either<ShardMapAnswer, string> => {
  switch (reply._tag) {
    case "ShardMap":
      return Either.right({ _tag: "ShardMap", map: reply })
    case "NotModified":
      return Either.right({ _tag: "NotModified", version: reply.version })
    default:
      return Either.left(`the metadata group answered ${reply._tag} to GetShardMap`)
  }
}
