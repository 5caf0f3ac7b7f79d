import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  BATCH_ERROR,
  decodeBatch,
  decodeBatchReply,
  encodeBatch,
  encodeBatchError,
  encodeBatchTooLarge,
  MAX_BATCH,
} from "../../src/runtime/RequestBatch.js"

describe("request batches", () => {
  it("round-trips any list of 1..MAX_BATCH parts", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 50 }), (parts) => {
        const decoded = decodeBatch(encodeBatch(parts))
        expect(typeof decoded).not.toBe("string")
        expect((decoded as Uint8Array[]).map((p) => [...p])).toEqual(parts.map((p) => [...p]))
        const reply = decodeBatchReply(encodeBatch(parts))
        expect("answers" in reply && reply.answers.length).toBe(parts.length)
      }),
    )
  })

  it("refuses malformed batches with a reason, never throws", () => {
    expect(decodeBatch(new Uint8Array([0]))).toMatch(/2-byte count/)
    expect(decodeBatch(new Uint8Array([0, 0]))).toMatch(/1\.\./)
    const tooMany = new Uint8Array(2)
    new DataView(tooMany.buffer).setUint16(0, MAX_BATCH + 1)
    expect(decodeBatch(tooMany)).toMatch(/holds/)
    const good = encodeBatch([new Uint8Array([1, 2, 3])])
    expect(decodeBatch(good.subarray(0, good.length - 1))).toMatch(/past the end/)
    expect(decodeBatch(new Uint8Array([...good, 9]))).toMatch(/after the last/)
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => void decodeBatch(bytes)))
  })

  it("says when the answers were too large for one message", () => {
    expect(decodeBatchReply(encodeBatchTooLarge())).toEqual({ tooLarge: true })
    // The marker is the whole reply: with more bytes it is a malformed batch, not the marker.
    expect(decodeBatchReply(new Uint8Array([0xff, 0xfe, 0]))).toHaveProperty("error")
  })

  it("carries an error reply", () => {
    const e = encodeBatchError("bad batch")
    expect(new DataView(e.buffer).getUint16(0)).toBe(BATCH_ERROR)
    expect(decodeBatchReply(e)).toEqual({ error: "bad batch" })
  })
})
