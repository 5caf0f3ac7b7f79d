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
  /** Undefined while the snapshot read is under way (the slot is taken all the same). */
  data: Uint8Array | undefined
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
      // The slot is taken before the read, so two opens never hold two states at once.
      const slot: OpenSnapshot = { id: randomUUID(), group, data: undefined, touchedAt: now }
      this.current = slot
      const r = yield* Effect.either(this.node.readSnapshot(group as GroupId))
      if (r._tag === "Left") {
        if (this.current === slot) this.current = undefined
        const e = r.left
        return {
          ok: false,
          error: e._tag,
          message: e.message,
          ...(e._tag === "NotLeader" && e.leaderHint !== undefined ? { leader: e.leaderHint } : {}),
        }
      }
      const { index, term, data } = r.right
      slot.data = data
      slot.touchedAt = yield* Clock.currentTimeMillis
      const id = slot.id
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
      const bytes = held?.id === id ? held.data : undefined
      if (held === undefined || bytes === undefined) return noSuchSnapshot(id)
      if (offset > bytes.length)
        return {
          ok: false,
          error: "BadRequest",
          message: `offset ${offset} is past the snapshot's ${bytes.length} bytes`,
        }
      const end = Math.min(bytes.length, offset + SNAPSHOT_CHUNK_BYTES)
      const data = Buffer.from(bytes.buffer, bytes.byteOffset + offset, end - offset).toString("base64")
      const done = end === bytes.length
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
