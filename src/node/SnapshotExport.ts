/**
 * Streaming a group's state out of its leader, for backups (docs/operations.md, "Backup and
 * restore"). Three operator admin requests (NodeAdmin.ts):
 *
 * - `snapshot-open { group }`: a linearizable snapshot read on this node's replica, which must
 *   lead (`Node.readSnapshot`); the node keeps the bytes and answers their applied index, term,
 *   size and sha256, and an `id` for the chunks;
 * - `snapshot-chunk { id, offset }`: up to `SNAPSHOT_CHUNK_BYTES` from `offset`, base64 (a NATS
 *   payload is limited to 1 MiB); the chunk that reaches the end releases the bytes;
 * - `snapshot-close { id }`: releases them early (a client giving up).
 *
 * A node holds ONE open snapshot at a time, so a backup costs it at most one shard's state: an
 * open while another is in use is refused as `Busy` (retry), but a snapshot left untouched for
 * `SNAPSHOT_IDLE_MS` (a client that died) is dropped and replaced.
 */
import { createHash, randomUUID } from "node:crypto"
import { Clock, Effect } from "effect"
import type { GroupId } from "../raft/Ids.js"
import type { NodeService } from "../runtime/Node.js"

/** Raw bytes per chunk: 512 KiB of base64 plus the JSON around it stays far below 1 MiB. */
export const SNAPSHOT_CHUNK_BYTES = 384 * 1024

/** An open snapshot untouched this long may be replaced by another open. */
export const SNAPSHOT_IDLE_MS = 30_000

interface OpenSnapshot {
  readonly id: string
  readonly group: number
  readonly data: Uint8Array
  touchedAt: number
}

/** A JSON admin reply. */
export type ExportReply = Record<string, unknown> & { readonly ok: boolean }

const noSuchSnapshot = (id: string): ExportReply => ({
  ok: false,
  error: "UnknownSnapshot",
  message: `no open snapshot ${id} on this node (finished, closed or replaced after ${SNAPSHOT_IDLE_MS} ms idle): open it again`,
})

/** The snapshot export of one node (see the module comment). */
export class SnapshotExport {
  private current: OpenSnapshot | undefined

  constructor(private readonly node: NodeService) {}

  /** `snapshot-open`. */
  open(group: number): Effect.Effect<ExportReply> {
    return Effect.gen(this, function* () {
      const now = yield* Clock.currentTimeMillis
      const held = this.current
      if (held !== undefined && now - held.touchedAt < SNAPSHOT_IDLE_MS)
        return {
          ok: false,
          error: "Busy",
          message: `this node is streaming group ${held.group} to another backup; retry later`,
        }
      this.current = undefined
      const r = yield* Effect.either(this.node.readSnapshot(group as GroupId))
      if (r._tag === "Left") {
        const e = r.left
        return {
          ok: false,
          error: e._tag,
          message: e.message,
          ...(e._tag === "NotLeader" && e.leaderHint !== undefined ? { leader: e.leaderHint } : {}),
        }
      }
      // Another open may have been served while this one waited for its read point.
      if (this.current !== undefined)
        return {
          ok: false,
          error: "Busy",
          message: "another backup opened a snapshot meanwhile; retry later",
        }
      const { index, term, data } = r.right
      const id = randomUUID()
      this.current = { id, group, data, touchedAt: yield* Clock.currentTimeMillis }
      return {
        ok: true,
        id,
        group,
        index,
        term,
        size: data.length,
        sha256: createHash("sha256").update(data).digest("hex"),
        chunkBytes: SNAPSHOT_CHUNK_BYTES,
      }
    })
  }

  /** `snapshot-chunk`. */
  chunk(id: string, offset: number): Effect.Effect<ExportReply> {
    return Effect.gen(this, function* () {
      const held = this.current
      if (held === undefined || held.id !== id) return noSuchSnapshot(id)
      if (offset > held.data.length)
        return {
          ok: false,
          error: "BadRequest",
          message: `offset ${offset} is past the snapshot's ${held.data.length} bytes`,
        }
      const end = Math.min(held.data.length, offset + SNAPSHOT_CHUNK_BYTES)
      const data = Buffer.from(held.data.buffer, held.data.byteOffset + offset, end - offset).toString(
        "base64",
      )
      const done = end === held.data.length
      if (done) this.current = undefined
      else held.touchedAt = yield* Clock.currentTimeMillis
      return { ok: true, data, done }
    })
  }

  /** `snapshot-close`. */
  close(id: string): Effect.Effect<ExportReply> {
    return Effect.sync(() => {
      if (this.current?.id === id) this.current = undefined
      return { ok: true }
    })
  }
}
