/**
 * Measures the KV shard's apply path, scans, snapshot and restore, for docs/decisions/0040.
 * Not a test: run it by hand.
 *
 *   npx tsx test/entity/bench/ShardBench.ts [entities]
 */
import { Either } from "effect"
import { Kv } from "../../../shards/kv/Kv.js"
import {
  EntityClient,
  EntityId,
  ShardScan,
  ShardStateMachine,
  Wire,
} from "../../../src/runtime/entity/index.js"

const n = Number(process.argv[2] ?? 100_000)
const put = (key: Uint8Array, value: Uint8Array, stamp: Wire.SessionStamp) =>
  EntityClient.encodeCall(
    {
      kind: "kv",
      operation: "Put",
      type: "command",
      entityId: key,
      slot: 0,
      payload: Either.getOrThrow(EntityClient.encodePayload(Kv, "Put", { value })),
      staleRead: false,
    },
    stamp,
  )
const time = <A>(label: string, ops: number, f: () => A): A => {
  const t0 = performance.now()
  const a = f()
  const ms = performance.now() - t0
  console.log(
    `${label.padEnd(40)} ${ms.toFixed(0).padStart(7)} ms  ${((ms * 1000) / ops).toFixed(2).padStart(8)} µs/op`,
  )
  return a
}

const shard = ShardStateMachine.ShardStateMachine.make(Kv)
let index = 0
const session = Either.getOrThrow(
  Wire.decodeReply(shard.apply(Wire.encodeRequest({ type: "openSession", kind: "kv" }), ++index)),
).body as number
const keys = Array.from({ length: n }, (_, i) =>
  EntityId.fromString(`user-${((i * 2654435761) >>> 0).toString(36)}`),
)
const value = new Uint8Array(100).fill(7)
const requests = time("encode Put requests (client side)", n, () =>
  keys.map((k, i) => put(k, value, { session, seq: i + 1, ackedBelow: i + 1 })),
)
time(`apply ${n} Puts in a session (100 B values)`, n, () => {
  for (const r of requests) shard.apply(r, ++index)
})
const last = requests[requests.length - 1]!
time("re-apply the last Put 10,000 times (cached)", 10_000, () => {
  for (let i = 0; i < 10_000; i++) shard.apply(last, ++index)
})
const pages = time("scan everything, pages of 1000", n, () => {
  let after: Uint8Array | undefined
  let count = 0
  do {
    const reply = shard.query(ShardScan.encodeRequest(Kv, { after, limit: 1000, values: true }))
    const page = Either.getOrThrow(ShardScan.decodeReply(Kv, reply))
    count += page.entries.length
    after = page.continuation
  } while (after !== undefined)
  return count
})
const snapshot = time("snapshot", n, () => shard.snapshot())
console.log(
  `snapshot bytes: ${snapshot.length} (${(snapshot.length / n).toFixed(1)} per entity), scanned ${pages}`,
)
const copy = ShardStateMachine.ShardStateMachine.make(Kv)
time("restore", n, () => copy.restore(snapshot))
console.log(
  `restored entities: ${copy.entityCount}, heap used ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`,
)
