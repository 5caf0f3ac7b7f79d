/**
 * A small KV client for the real-process placement tests and the placement benchmark, local
 * to the tests (the typed client library lives in src/client): it fetches the shard map from
 * the meta subject (versioned), routes a key to its group by slot, sends requests built with
 * `EntityClient.encodeCall` to `flotilla.<c>.cli.group.<gid>`, and retries with backoff on every
 * answer that means "not done, ask again": no responders (no leader now), timeouts,
 * `NotLeader`, `Overloaded`, `ProposalFailed`, `NodeStopping`, `GroupNotFound`, and
 * `WrongShard` (after refetching the map). Anything else is a failure.
 *
 * Puts carry no session (at-least-once): the workload writes each key once with one value, so
 * a retried put is harmless. `Workload` runs writers until stopped, records every acknowledged
 * key, the requests that failed (gave up after the deadline or got a non-retryable answer),
 * retries, and latencies.
 */
import type { NatsConnection } from "@nats-io/transport-node"
import { Either } from "effect"
import { Kv } from "../../shards/kv/Kv.js"
import type { Keyspace } from "../../src/meta/ClusterState.js"
import type { ShardMap } from "../../src/meta/MetaQuery.js"
import { shardOfSlot } from "../../src/meta/Slots.js"
import * as EntityClient from "../../src/runtime/entity/EntityClient.js"
import * as EntityId from "../../src/runtime/entity/EntityId.js"
import * as Wire from "../../src/runtime/entity/Wire.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// OutcomeUnknown: the put may have applied; the workload writes each key once with one value,
// so sending it again is harmless.
const RETRYABLE = new Set([
  "NotLeader",
  "Overloaded",
  "ProposalFailed",
  "OutcomeUnknown",
  "NodeStopping",
  "GroupNotFound",
  "GroupStopped",
])

/** The outcome of one operation. */
export interface OpResult<A> {
  readonly ok: boolean
  readonly value?: A
  readonly attempts: number
  readonly latencyMs: number
  readonly error?: string
}

/** See the module comment. */
export class KvRouter {
  map: ShardMap | undefined
  mapFetches = 0

  constructor(
    readonly nc: NatsConnection,
    readonly cluster: string,
    readonly keyspace = "kv",
    readonly requestTimeoutMs = 3_000,
  ) {}

  /** Fetches the shard map if a newer one exists (retrying until the metadata leader answers). */
  async refresh(deadlineMs = 30_000): Promise<void> {
    const end = Date.now() + deadlineMs
    for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
      try {
        const req = { _tag: "GetShardMap", keyspace: "", knownVersion: this.map?.version ?? 0 }
        const m = await this.nc.request(
          `flotilla.${this.cluster}.cli.meta`,
          encoder.encode(JSON.stringify(req)),
          {
            timeout: this.requestTimeoutMs,
          },
        )
        const reply = JSON.parse(decoder.decode(m.data)) as { _tag: string } & ShardMap
        this.mapFetches++
        if (reply._tag === "ShardMap") {
          if (this.map === undefined || reply.version > this.map.version) this.map = reply
          return
        }
        if (reply._tag === "NotModified") return
      } catch {
        // no metadata leader right now
      }
      if (Date.now() > end) throw new Error("no shard map from the metadata leader")
      await sleep(wait)
    }
  }

  /** The group serving `key`, from the cached map. */
  groupOf(key: Uint8Array): number | undefined {
    const ks = this.map?.keyspaces.find((k) => k.name === this.keyspace) as Keyspace | undefined
    return ks === undefined ? undefined : shardOfSlot(ks, EntityId.slotOf(key))?.group
  }

  /** Sends `bytes` for `key` until a shard answers something final, or `deadlineMs` passes. */
  private async send(key: Uint8Array, bytes: Uint8Array, deadlineMs: number): Promise<OpResult<Uint8Array>> {
    const started = Date.now()
    const end = started + deadlineMs
    let attempts = 0
    let last = ""
    for (let wait = 10; ; wait = Math.min(wait * 2, 400)) {
      if (this.map === undefined) await this.refresh(Math.max(0, end - Date.now()))
      const group = this.groupOf(key)
      if (group !== undefined) {
        attempts++
        try {
          const m = await this.nc.request(`flotilla.${this.cluster}.cli.group.${group}`, bytes, {
            timeout: this.requestTimeoutMs,
          })
          const env = Wire.decodeReply(m.data)
          if (Either.isRight(env) && env.right.status === Wire.ReplyStatus.RuntimeError) {
            const err = Wire.decodeRuntimeErrorBody(env.right.body)
            const tag = Either.isRight(err) ? err.right._tag : "undecodable runtime error"
            last = tag
            if (tag === "WrongShard") await this.refresh(Math.max(1, end - Date.now())).catch(() => {})
            else if (!RETRYABLE.has(tag))
              return { ok: false, attempts, latencyMs: Date.now() - started, error: `group ${group}: ${tag}` }
          } else {
            return { ok: true, value: m.data, attempts, latencyMs: Date.now() - started }
          }
        } catch (e) {
          // no responders (no leader now) or a timeout (outcome unknown: a put is resent as is)
          last = String((e as Error).message ?? e)
          if (attempts % 4 === 0) await this.refresh(Math.max(1, end - Date.now())).catch(() => {})
        }
      }
      if (Date.now() + wait > end)
        return {
          ok: false,
          attempts,
          latencyMs: Date.now() - started,
          error: `gave up after ${attempts} attempts: ${last}`,
        }
      await sleep(wait)
    }
  }

  /** `Put(key, value)`: ok once a shard applied it; the value says whether the key was new. */
  async put(key: string, value: Uint8Array, deadlineMs = 30_000): Promise<OpResult<boolean>> {
    const r = await this.call(key, "Put", "command", { value }, deadlineMs)
    return r.ok ? { ...r, value: (r.value as { created: boolean }).created } : { ...r, value: undefined }
  }

  /** `Get(key)`, linearizable: the value or null. */
  async get(key: string, deadlineMs = 30_000): Promise<OpResult<Uint8Array | null>> {
    const r = await this.call(key, "Get", "query", {}, deadlineMs)
    return r.ok ? { ...r, value: r.value as Uint8Array | null } : { ...r, value: undefined }
  }

  /** One KV operation on the key's shard, its reply decoded. */
  private async call(
    key: string,
    operation: "Put" | "Get",
    type: "command" | "query",
    payload: object,
    deadlineMs: number,
  ): Promise<OpResult<unknown>> {
    const id = EntityId.make(key)
    const encoded = EntityClient.encodePayload(Kv, operation, payload as never)
    if (Either.isLeft(encoded)) throw new Error(encoded.left.message)
    const bytes = EntityClient.encodeCall({
      kind: "kv",
      operation,
      type,
      entityId: id,
      slot: EntityId.slotOf(id),
      payload: encoded.right,
      staleRead: false,
    })
    const r = await this.send(id, bytes, deadlineMs)
    if (!r.ok) return { ...r, value: undefined }
    const decoded = EntityClient.decodeReply(Kv, operation, r.value!)
    return Either.isRight(decoded)
      ? { ...r, value: decoded.right }
      : {
          ok: false,
          attempts: r.attempts,
          latencyMs: r.latencyMs,
          error: `${operation}: ${decoded.left._tag}`,
        }
  }
}

/** Writers putting unique keys until stopped. */
export class Workload {
  readonly acked = new Map<string, string>()
  readonly failures: string[] = []
  readonly latencies: Array<{ readonly at: number; readonly ms: number }> = []
  retried = 0
  private stopping = false
  private running: Promise<void>[] = []
  private next = 0

  constructor(
    readonly router: KvRouter,
    readonly options: {
      readonly writers: number
      readonly prefix: string
      readonly valueBytes?: number
      readonly pauseMs?: number
      /** How long one put may keep retrying before it counts as failed (default 30 s). */
      readonly deadlineMs?: number
    },
  ) {}

  start(): void {
    for (let w = 0; w < this.options.writers; w++) this.running.push(this.writer())
  }

  private async writer(): Promise<void> {
    const pad = "x".repeat(Math.max(0, (this.options.valueBytes ?? 32) - 16))
    while (!this.stopping) {
      const i = this.next++
      const key = `${this.options.prefix}-${i}`
      const value = `${i}:${pad}`
      const r = await this.router.put(key, encoder.encode(value), this.options.deadlineMs ?? 30_000)
      this.latencies.push({ at: Date.now(), ms: r.latencyMs })
      if (r.attempts > 1) this.retried++
      if (r.ok) this.acked.set(key, value)
      else this.failures.push(`${key}: ${r.error}`)
      if (this.options.pauseMs) await sleep(this.options.pauseMs)
    }
  }

  /** Stops the writers (each finishes its request in flight). */
  async stop(): Promise<void> {
    this.stopping = true
    await Promise.all(this.running)
  }

  /** Reads every acknowledged key back; the keys whose value is missing or different. */
  async verify(concurrency = 32): Promise<string[]> {
    const keys = [...this.acked.keys()]
    const lost: string[] = []
    let at = 0
    const worker = async () => {
      for (;;) {
        const k = keys[at++]
        if (k === undefined) return
        const r = await this.router.get(k)
        const got = r.ok && r.value !== null && r.value !== undefined ? decoder.decode(r.value) : undefined
        if (got !== this.acked.get(k))
          lost.push(`${k}: ${r.ok ? `read ${got === undefined ? "nothing" : "another value"}` : r.error}`)
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
    return lost
  }
}
