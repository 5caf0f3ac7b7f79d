/**
 * What the router does with each reply (src/client/ReplyAction.ts), checked against the table
 * "Retries" of docs/protocol.md, row by row: whether nothing ran (retry) or the outcome is
 * unknown (retry the same bytes), and whether the shard map is refreshed (rate-limited or now).
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { actionOf, type ReplyAction } from "../../src/client/ReplyAction.js"
import {
  InvalidPayload,
  SessionExpired,
  StaleSequence,
  TooManyPending,
} from "../../src/runtime/entity/EntityError.js"
import * as Wire from "../../src/runtime/entity/Wire.js"
import {
  BadRequest,
  GroupNotFound,
  GroupStopped,
  NodeStopping,
  NotLeader,
  OutcomeUnknown,
  Overloaded,
  ProposalFailed,
  WrongShard,
} from "../../src/runtime/RuntimeErrors.js"

/** A reply carrying each error the table names. */
const replies: Record<string, Uint8Array> = {
  NotLeader: Wire.runtimeErrorReply(new NotLeader({ groupId: 3, leaderHint: 2 })),
  GroupNotFound: Wire.runtimeErrorReply(new GroupNotFound({ groupId: 3, nodeId: 1 })),
  WrongShard: Wire.runtimeErrorReply(new WrongShard({ groupId: 3, slot: 77 })),
  Overloaded: Wire.runtimeErrorReply(new Overloaded({ groupId: 3, capacity: 1024 })),
  ProposalFailed: Wire.runtimeErrorReply(new ProposalFailed({ groupId: 3, reason: "slot lost" })),
  TooManyPending: Wire.errorReply(new TooManyPending({ session: 9, limit: 64 })),
  OutcomeUnknown: Wire.runtimeErrorReply(new OutcomeUnknown({ groupId: 3, reason: "snapshot" })),
  NodeStopping: Wire.runtimeErrorReply(new NodeStopping({ nodeId: 1 })),
  GroupStopped: Wire.runtimeErrorReply(new GroupStopped({ groupId: 3, reason: "disk" })),
  SessionExpired: Wire.errorReply(new SessionExpired({ session: 9 })),
}

/** The rows of docs/protocol.md's "Retries" table that name errors: name → (nothing ran?, refresh). */
const documentedRows = (): Map<string, { nothingRan: string; refresh: string }> => {
  const doc = readFileSync(join(import.meta.dirname, "../../docs/protocol.md"), "utf8")
  const table = doc.slice(doc.indexOf("## Retries"))
  const rows = new Map<string, { nothingRan: string; refresh: string }>()
  for (const line of table.split("\n").slice(0, 20)) {
    const cells = line.split("|").map((c) => c.trim())
    if (cells.length < 5) continue
    for (const m of cells[1]!.matchAll(/`([A-Za-z]+)`/g))
      rows.set(m[1]!, { nothingRan: cells[2]!, refresh: cells[3]! })
  }
  return rows
}

/** The action a documented row asks for. */
const expected = (
  name: string,
  row: { nothingRan: string; refresh: string },
): ReplyAction["_tag"] | string => {
  if (name === "SessionExpired") return "SessionExpired"
  if (row.nothingRan === "unknown") return "RetryUncertain"
  const stale = { "yes (rate-limited)": "maybe", "yes, now": "forced", no: "no" }[row.refresh]
  return `Retry/${stale}`
}

const tagOf = (a: ReplyAction): string => (a._tag === "Retry" ? `Retry/${a.stale}` : a._tag)

describe("ReplyAction.actionOf", () => {
  it("does what docs/protocol.md's Retries table says for every error it names", () => {
    const rows = documentedRows()
    expect([...rows.keys()].sort()).toEqual(Object.keys(replies).sort())
    for (const [name, row] of rows) expect(tagOf(actionOf(replies[name]!)), name).toBe(expected(name, row))
  })

  it("names the error it retries on, with its message as the reason", () => {
    expect(actionOf(replies.WrongShard!)).toEqual({
      _tag: "Retry",
      reason: "slot 77 does not belong to group 3: refresh the shard map",
      stale: "forced",
      error: "WrongShard",
    })
    expect(actionOf(replies.OutcomeUnknown!)).toMatchObject({
      _tag: "RetryUncertain",
      error: "OutcomeUnknown",
    })
  })

  it("hands every other reply to the caller: answers, declared failures, other errors, bad bytes", () => {
    for (const reply of [
      Wire.successReply("ok"),
      Wire.failureReply({ _tag: "CounterOverflow" }),
      Wire.errorReply(new StaleSequence({ session: 9, seq: 1, floor: 4 })),
      Wire.errorReply(new InvalidPayload({ operation: "Add", reason: "not a number" })),
      Wire.runtimeErrorReply(new BadRequest({ reason: "?" })),
      new Uint8Array([Wire.VERSION, Wire.ReplyStatus.RuntimeError, 0xff]),
      new Uint8Array([Wire.VERSION, Wire.ReplyStatus.SystemError, 0x01]),
      new Uint8Array([Wire.VERSION + 1, Wire.ReplyStatus.RuntimeError, 0xa0]),
      new Uint8Array([Wire.VERSION]),
    ])
      expect(actionOf(reply)).toEqual({ _tag: "Done" })
  })
})
