/**
 * The shard kind of the KV store that nodes host: the entity routing of kind `kv` (writes
 * stamped with the leader's clock, reads through ReadIndex, slots checked) over the
 * multi-version `KvStateMachine`.
 */
import * as EntityShardKind from "../../src/runtime/entity/EntityShardKind.js"
import type { ShardKind } from "../../src/runtime/ShardKind.js"
import { Kv } from "./Kv.js"
import { type KvShardOptions, KvStateMachine } from "./KvStateMachine.js"

/** The KV shard kind. `options` MUST be the same on every node. */
export const make = (options: KvShardOptions = {}): ShardKind => ({
  ...EntityShardKind.make(Kv),
  make: () => new KvStateMachine(options),
})
