/**
 * A readable line for the command an entry carries, for `flotilla inspect --entries`: the
 * metadata group's commands are JSON (`MetaCommand`), an entity kind's (the KV store's among
 * them) are requests in the entity wire format (`Wire.ts`). Other kinds, and bytes that do not
 * decode, get no summary: the entry's own description (src/raft/Describe.ts) stands alone.
 */
import { Either } from "effect"
import { META_GROUP, META_KIND } from "../meta/ClusterState.js"
import { decodeCommand } from "../meta/MetaCommand.js"
import { type Entry, EntryType } from "../raft/Types.js"
import type * as Cbor from "../runtime/entity/Cbor.js"
import * as EntityId from "../runtime/entity/EntityId.js"
import * as Wire from "../runtime/entity/Wire.js"

/** Longest summary printed. */
const MAX_SUMMARY = 200

const clip = (text: string): string => (text.length > MAX_SUMMARY ? `${text.slice(0, MAX_SUMMARY)}…` : text)

const metaSummary = (data: Uint8Array): string | undefined => {
  const decoded = decodeCommand(data)
  if (Either.isLeft(decoded)) return undefined
  const { _tag, ...fields } = decoded.right
  return clip(`meta ${_tag} ${JSON.stringify(fields)}`)
}

/** Bytes as text when they are printable UTF-8, else as `0x` hex. */
const bytesText = (bytes: Uint8Array): string => {
  const text = EntityId.toStringStrict(bytes)
  return text !== undefined && !/[\u0000-\u001f\u007f]/.test(text) ? text : `0x${EntityId.toHex(bytes)}`
}

/** A command's payload as compact JSON (bytes as `bytesText`); empty for none. */
const payloadText = (payload: Cbor.CborValue): string =>
  payload === null || payload === undefined
    ? ""
    : ` ${JSON.stringify(payload, (_key, v: unknown) => (v instanceof Uint8Array ? bytesText(v) : v))}`

const entitySummary = (data: Uint8Array): string | undefined => {
  const decoded = Wire.decodeRequest(data)
  if (Either.isLeft(decoded)) return undefined
  const { header, request: r } = decoded.right
  const at = header.time === 0 ? "" : ` at ${new Date(header.time).toISOString()}`
  switch (r.type) {
    case "command": {
      const session = r.session === 0 ? "" : ` session ${r.session} seq ${r.seq}`
      const id = JSON.stringify(bytesText(r.entityId))
      return clip(`${r.kind} ${r.operation} ${id}${payloadText(r.payload)}${session}${at}`)
    }
    case "openSession":
      return `${r.kind} open session${at}`
    case "closeSession":
      return `${r.kind} close session ${r.session}${at}`
    default:
      return `${r.kind} ${r.type}${at}`
  }
}

/**
 * The summary of `e`'s command in a group of `kind` (undefined when the catalog names none:
 * group 0 is then taken to be the metadata group, any other an entity kind).
 */
export const summarizeEntry = (groupId: number, kind: string | undefined, e: Entry): string | undefined => {
  if (e.type !== EntryType.Normal) return undefined
  if (e.data.length === 0) return "empty (a new leader's first entry)"
  const meta = kind === undefined ? groupId === META_GROUP : kind === META_KIND
  return meta ? metaSummary(e.data) : entitySummary(e.data)
}
