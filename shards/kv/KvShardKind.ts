/**
 * The shard kind of the KV store that nodes host: the entity routing of kind `kv` (writes
 * stamped with the leader's clock, reads through ReadIndex, slots checked) over the
 * multi-version `KvStateMachine`, with the leader's lease timer (`LeaseExpiry`).
 */
import * as EntityShardKind from "../../src/runtime/entity/EntityShardKind.js"
import type { ShardKind } from "../../src/runtime/ShardKind.js"
import { KIND, Kv } from "./Kv.js"
import { type KvShardOptions, KvStateMachine } from "./KvStateMachine.js"
import { leaseExpiry } from "./LeaseExpiry.js"

/** Options of the KV shard kind. */
export interface KvShardKindOptions extends KvShardOptions {
  /** How often the leader looks for expired leases (default 100 ms). */
  readonly leaseTickMs?: number
}

/** The KV shard kind. The state machine options MUST be the same on every node. */
export const make = (options: KvShardKindOptions = {}): ShardKind => ({
  ...EntityShardKind.make(Kv),
  make: () => new KvStateMachine(options),
  whileLeader: leaseExpiry(options.leaseTickMs ?? 100),
})

export { KIND }
