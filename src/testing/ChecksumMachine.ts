/**
 * The trivial state machine that ships for tests: it counts applied commands and folds each
 * into a running FNV-1a checksum, so two replicas that applied the same commands in the same
 * order report the same `{ count, checksum }`. Deterministic, tiny, and sensitive to any
 * divergence, which is all an integration test of replication needs.
 *
 * Requests on the group subject (its `ShardKind`): `w<bytes>` proposes `<bytes>`, `r` reads
 * linearizably, `s` reads stale (any replica). Replies are JSON: `{"count":n,"checksum":c}`,
 * or `{"error":"<Tag>","message":"..."}`.
 */
import type { BadRequest, RuntimeError } from "../runtime/RuntimeErrors.js"
import type { ShardKind } from "../runtime/ShardKind.js"
import type { StateMachine } from "../runtime/StateMachine.js"

const FNV_OFFSET = 0x811c9dc5
const FNV_PRIME = 0x01000193
const encoder = new TextEncoder()

export class ChecksumMachine implements StateMachine {
  count = 0
  checksum = FNV_OFFSET

  apply(command: Uint8Array): Uint8Array {
    let h = this.checksum
    for (let i = 0; i < command.length; i++) h = Math.imul(h ^ command[i]!, FNV_PRIME) >>> 0
    // Separate commands so that "ab"+"c" and "a"+"bc" differ.
    this.checksum = Math.imul(h ^ 0xff, FNV_PRIME) >>> 0
    this.count++
    return this.reply()
  }

  query(): Uint8Array {
    return this.reply()
  }

  private reply(): Uint8Array {
    return encoder.encode(JSON.stringify({ count: this.count, checksum: this.checksum }))
  }

  snapshot(): Uint8Array {
    const out = new Uint8Array(12)
    const v = new DataView(out.buffer)
    v.setUint32(0, 0x43534d31) // "CSM1"
    v.setUint32(4, this.count)
    v.setUint32(8, this.checksum)
    return out
  }

  restore(snapshot: Uint8Array): void {
    if (snapshot.length === 0) {
      this.count = 0
      this.checksum = FNV_OFFSET
      return
    }
    const v = new DataView(snapshot.buffer, snapshot.byteOffset, snapshot.byteLength)
    if (snapshot.length !== 12 || v.getUint32(0) !== 0x43534d31)
      throw new Error("not a ChecksumMachine snapshot")
    this.count = v.getUint32(4)
    this.checksum = v.getUint32(8)
  }
}

const errorReply = (error: RuntimeError | BadRequest): Uint8Array =>
  encoder.encode(JSON.stringify({ error: error._tag, message: error.message }))

/** The `ShardKind` of `ChecksumMachine`. */
export const checksumKind: ShardKind = {
  name: "checksum",
  make: () => new ChecksumMachine(),
  route: (request) => {
    const op = request[0]
    if (op === 0x77) return { _tag: "Command", command: request.subarray(1) } // "w"
    if (op === 0x72) return { _tag: "Query", query: request.subarray(1), stale: false } // "r"
    if (op === 0x73) return { _tag: "Query", query: request.subarray(1), stale: true } // "s"
    return {
      _tag: "Reply",
      reply: encoder.encode(
        JSON.stringify({ error: "BadRequest", message: 'requests start with "w", "r" or "s"' }),
      ),
    }
  },
  encodeError: errorReply,
}
