/**
 * A Flotilla KV client that uses nothing but the NATS package and the documented protocol
 * (docs/protocol.md, "The KV gateway"): JSON requests to `flotilla.<cluster>.kv`, which every
 * node serves in the queue group `kv` and routes inside the cluster.
 *
 *   npx tsx examples/nats-client/client.ts [--server nats://127.0.0.1:4222] [--cluster default]
 *
 * It writes, reads, swaps, scans and deletes a few keys, and shows a binary value (base64) and a
 * refused request. Start a cluster first: `npm start` (`flotilla dev`).
 */
import { connect, type NatsConnection } from "@nats-io/transport-node"

/** A reply of the gateway: `ok` and the operation's fields, or `error` and `message`. */
export type Reply =
  | { readonly ok: true; readonly [field: string]: unknown }
  | {
      readonly ok: false
      readonly error: string
      readonly message: string
      readonly [field: string]: unknown
    }

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Sends one request and returns the gateway's reply. Retries, as docs/protocol.md advises, when
 * no node answers ("no responders": the cluster is starting or restarting) or the request times
 * out, with exponential backoff and jitter, for at most `deadlineMs`. A retried write may be
 * applied twice: this plain client has no sessions (the typed clients do).
 */
export const request = async (
  nc: NatsConnection,
  subject: string,
  body: Record<string, unknown>,
  deadlineMs = 10_000,
): Promise<Reply> => {
  const end = Date.now() + deadlineMs
  for (let attempt = 0; ; attempt++) {
    try {
      const msg = await nc.request(subject, JSON.stringify(body), { timeout: 5_000 })
      return msg.json<Reply>()
    } catch (e) {
      if (Date.now() >= end) throw e
      const ceiling = Math.min(1_000, 20 * 2 ** attempt)
      await sleep(Math.random() * ceiling)
    }
  }
}

/** Runs the demonstration against `server`, printing each request and reply with `log`. */
export const run = async (
  server: string,
  cluster: string,
  log: (line: string) => void = console.log,
): Promise<void> => {
  const nc = await connect({ servers: server, name: "flotilla-example-nats-client" })
  const subject = `flotilla.${cluster}.kv`
  const kv = async (body: Record<string, unknown>) => {
    const reply = await request(nc, subject, body)
    log(`${JSON.stringify(body)}\n  -> ${JSON.stringify(reply)}`)
    return reply
  }
  try {
    await kv({ op: "put", key: "example:greeting", value: "hello" })
    await kv({ op: "get", key: "example:greeting" })
    // Compare-and-set: succeeds once; the second finds "bonjour" and says so.
    await kv({ op: "cas", key: "example:greeting", expected: "hello", value: "bonjour" })
    await kv({ op: "cas", key: "example:greeting", expected: "hello", value: "hola" })
    for (const fruit of ["apple", "banana", "cherry"])
      await kv({ op: "put", key: `example:fruit:${fruit}`, value: fruit })
    // Pages of 2, in key order across every shard; `continuation` asks for the next page.
    let after: string | null = null
    do {
      const page = await kv({ op: "scan", prefix: "example:fruit:", limit: 2, ...(after ? { after } : {}) })
      after = page.ok ? (page.continuation as string | null) : null
    } while (after !== null)
    // Binary data travels as base64.
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255]).toString("base64")
    await kv({
      op: "put",
      key: Buffer.from("example:bytes").toString("base64"),
      value: bytes,
      encoding: "base64",
    })
    await kv({ op: "get", key: Buffer.from("example:bytes").toString("base64"), encoding: "base64" })
    // A bad request gets a clear refusal; nothing is written.
    await kv({ op: "put", key: "example:greeting", vaule: "typo" })
    for (const key of [
      "example:greeting",
      "example:fruit:apple",
      "example:fruit:banana",
      "example:fruit:cherry",
    ])
      await kv({ op: "delete", key })
    await kv({ op: "delete", key: Buffer.from("example:bytes").toString("base64"), encoding: "base64" })
  } finally {
    await nc.drain()
  }
}

const flag = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`)
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run(flag("server", "nats://127.0.0.1:4222"), flag("cluster", "default")).catch((e: unknown) => {
    console.error(`nats-client example failed: ${e instanceof Error ? e.message : String(e)}`)
    process.exitCode = 1
  })
}
