/**
 * Frame encoding benchmark behind docs/decisions/0020-raft-frame-encoding.md: the hand-coded
 * DataView/varint frame against msgpackr (present in node_modules through @effect/platform),
 * on typical frames. Both sides do the full job: encode, decode AND validate into `Message`s
 * (msgpackr decodes arbitrary structures, so its result must be checked field by field before
 * it may reach a Raft core).
 *
 * Run: npx tsx test/transport/bench/frame-bench.ts   (prints the load average first: the numbers
 * move with it on a shared machine)
 */
import { loadavg } from "node:os"
import { Either } from "effect"
import { Packr } from "msgpackr"
import type { GroupId, NodeId } from "../../../src/raft/Ids.js"
import type { Entry, Message, ReplicaId } from "../../../src/raft/Types.js"
import { isReplicaId, NO_ENTRIES } from "../../../src/raft/Types.js"
import { decodeFrame, type Envelope, encodeFrame, isRemoteMessageType } from "../../../src/transport/Frame.js"
import { appends, heartbeats } from "../arbitraries.js"

const N1 = 1 as NodeId
const N2 = 2 as NodeId
const header = { clusterId: 0x1234, from: N1, to: N2 }

// --- msgpackr: each message as a tuple (the compact way to use it), then validated ---------
const packr = new Packr({ useRecords: false, moreTypes: false })
type Tuple = [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  unknown[],
  number,
  boolean,
  number,
  number,
  unknown,
  unknown,
]
const toTuple = (e: Envelope): Tuple => {
  const m = e.message
  return [
    e.groupId,
    m.type,
    m.to,
    m.from,
    m.term,
    m.logTerm,
    m.index,
    m.entries.map((x) => [x.term, x.index, x.type, x.data]),
    m.commit,
    m.reject,
    m.rejectHint,
    m.hintTerm,
    m.snapshot ?? null,
    m.context ?? null,
  ]
}
const packFrame = (envelopes: ReadonlyArray<Envelope>) =>
  packr.pack([1, header.clusterId, header.from, header.to, envelopes.map(toTuple)])

const nat = (v: unknown): number => {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new Error("bad integer")
  return v
}
const bytesOf = (v: unknown): Uint8Array => {
  if (!(v instanceof Uint8Array)) throw new Error("bad bytes")
  return new Uint8Array(v)
}
const unpackFrame = (bytes: Uint8Array): Either.Either<Envelope[], string> => {
  try {
    const f = packr.unpack(bytes) as unknown
    if (!Array.isArray(f) || f.length !== 5 || f[0] !== 1 || f[1] !== header.clusterId)
      return Either.left("bad")
    const list = f[4]
    if (!Array.isArray(list)) return Either.left("bad")
    const out: Envelope[] = new Array(list.length)
    for (let i = 0; i < list.length; i++) {
      const t = list[i] as unknown[]
      if (!Array.isArray(t) || t.length !== 14) return Either.left("bad")
      const type = nat(t[1])
      if (!isRemoteMessageType(type)) return Either.left("bad type")
      const to = nat(t[2])
      const from = nat(t[3])
      if (!isReplicaId(to) || !isReplicaId(from) || to % 65536 !== header.to || from % 65536 !== header.from)
        return Either.left("bad ids")
      const rawEntries = t[7]
      if (!Array.isArray(rawEntries)) return Either.left("bad entries")
      const entries: Entry[] =
        rawEntries.length === 0
          ? (NO_ENTRIES as Entry[])
          : rawEntries.map((x: unknown) => {
              if (!Array.isArray(x) || x.length !== 4) throw new Error("bad entry")
              const et = nat(x[2])
              if (et > 1) throw new Error("bad entry type")
              return { term: nat(x[0]), index: nat(x[1]), type: et as 0 | 1, data: bytesOf(x[3]) }
            })
      if (typeof t[9] !== "boolean") return Either.left("bad reject")
      if (t[12] !== null) return Either.left("snapshots not exercised here")
      const message: Message = {
        type,
        to: to as ReplicaId,
        from: from as ReplicaId,
        term: nat(t[4]),
        logTerm: nat(t[5]),
        index: nat(t[6]),
        entries,
        commit: nat(t[8]),
        reject: t[9],
        rejectHint: nat(t[10]),
        hintTerm: nat(t[11]),
        snapshot: undefined,
        context: t[13] === null ? undefined : bytesOf(t[13]),
      }
      out[i] = { groupId: nat(t[0]) as GroupId, message }
    }
    return Either.right(out)
  } catch {
    return Either.left("bad")
  }
}

// --- harness ---------------------------------------------------------------------------------
/** Median of 7 timed runs of ~0.3 s each (the machine is shared: medians resist noise). */
const measure = (name: string, fn: () => void): number => {
  for (let i = 0; i < 50; i++) fn()
  const runs: number[] = []
  for (let r = 0; r < 7; r++) {
    let n = 0
    const start = performance.now()
    const end = start + 300
    while (performance.now() < end) {
      fn()
      n++
    }
    runs.push(((performance.now() - start) * 1000) / n)
  }
  runs.sort((a, b) => a - b)
  const us = runs[3]!
  const spread = `${runs[0]!.toFixed(1)}–${runs[6]!.toFixed(1)}`
  console.log(
    `${name.padEnd(30)} ${us.toFixed(1).padStart(8)} µs/op (median; range ${spread})  ${Math.round(1e6 / us)
      .toString()
      .padStart(8)} ops/s`,
  )
  return us
}

const cases: Array<[string, Envelope[]]> = [
  ["64 MsgApp, one 128-byte entry each", appends(N1, N2, 64, 128)],
  ["10,000 heartbeats", heartbeats(N1, N2, 10_000)],
  ["1 MsgApp, one 128-byte entry", appends(N1, N2, 1, 128)],
]

console.log(
  `node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
)
for (const [label, envelopes] of cases) {
  const custom = encodeFrame(header, envelopes)
  const packed = packFrame(envelopes)
  const check = decodeFrame(custom)
  const checkPacked = unpackFrame(packed)
  if (Either.isLeft(check) || Either.isLeft(checkPacked)) throw new Error("benchmark frames do not decode")
  console.log(`\n${label}: custom ${custom.length} bytes, msgpackr ${packed.length} bytes`)
  measure("  custom   encode", () => encodeFrame(header, envelopes))
  measure("  custom   decode+validate", () => decodeFrame(custom))
  measure("  custom   encode+decode", () => decodeFrame(encodeFrame(header, envelopes)))
  measure("  msgpackr encode", () => packFrame(envelopes))
  measure("  msgpackr decode+validate", () => unpackFrame(packed))
  measure("  msgpackr encode+decode", () => unpackFrame(packFrame(envelopes)))
}
