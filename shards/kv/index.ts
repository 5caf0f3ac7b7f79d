/**
 * The KV shard: the key-value store as an entity kind (`Kv`) and its UTF-8 helpers (`KvText`).
 */
export * as Kv from "./Kv.js"
export * as KvText from "./KvText.js"
