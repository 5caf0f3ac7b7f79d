/**
 * Frame encoding benchmark behind docs/decisions/0020-raft-frame-encoding.md: the hand-coded
 * DataView/varint frame against msgpackr (present in node_modules through @effect/platform),
 * on typical frames. Both sides do the full job: encode, decode AND validate into `Message`s
 * (msgpackr decodes arbitrary structures, so its result must be checked field by field before
 * it may reach a Raft core).
 *
 * Run: npx tsx test/transport/bench/frame-bench.ts [case filter] [variant filter]
 *   e.g. `... heartbeats "custom   decode"` times one variant alone in a fresh process (the
 *   garbage collector's state, which the other variants change, weighs on frames of 10,000
 *   small objects). It prints the load average first.
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
/**
 * Times every variant of a case in 7 interleaved rounds of ~0.2 s each and reports the median
 * CPU time (user + system, all threads: GC included) per operation. CPU time rather than wall
 * time, and interleaved rounds, because the machine is shared: wall time there mostly measures
 * the wait for a core.
 */
const measureAll = (all: ReadonlyArray<readonly [string, () => void]>) => {
  const variants = all.filter(([name]) => onlyVariant === undefined || name.includes(onlyVariant))
  for (const [, fn] of variants) for (let i = 0; i < 50; i++) fn()
  const runs: number[][] = variants.map(() => [])
  for (let round = 0; round < 7; round++) {
    variants.forEach(([, fn], v) => {
      let n = 0
      const start = performance.now()
      const cpu = process.cpuUsage()
      while (performance.now() - start < 200) {
        fn()
        n++
      }
      const used = process.cpuUsage(cpu)
      runs[v]!.push((used.user + used.system) / n)
    })
  }
  variants.forEach(([name], v) => {
    const r = runs[v]!.sort((a, b) => a - b)
    const us = r[3]!
    console.log(
      `  ${name.padEnd(28)} ${us.toFixed(1).padStart(8)} µs CPU/op  median (range ${r[0]!.toFixed(1)}–${r[6]!.toFixed(1)})  ${Math.round(
        1e6 / us,
      )} ops/s`,
    )
  })
}

const only = process.argv[2]
const onlyVariant = process.argv[3]
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
  if (only !== undefined && !label.includes(only)) continue
  const custom = encodeFrame(header, envelopes)
  const packed = packFrame(envelopes)
  const check = decodeFrame(custom)
  const checkPacked = unpackFrame(packed)
  if (Either.isLeft(check) || Either.isLeft(checkPacked)) throw new Error("benchmark frames do not decode")
  console.log(`\n${label}: custom ${custom.length} bytes, msgpackr ${packed.length} bytes`)
  measureAll([
    ["custom   encode", () => encodeFrame(header, envelopes)],
    ["custom   decode+validate", () => decodeFrame(custom)],
    ["custom   encode+decode", () => decodeFrame(encodeFrame(header, envelopes))],
    ["msgpackr encode", () => packFrame(envelopes)],
    ["msgpackr decode+validate", () => unpackFrame(packed)],
    ["msgpackr encode+decode", () => unpackFrame(packFrame(envelopes))],
  ])
}
