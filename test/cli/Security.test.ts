/**
 * `flotilla security init` and the permission classes, against a real nats-server running the
 * generated configuration and a node connected as the `node` user: the client user uses the
 * KV gateway fully and is refused, by NATS, every internal and operator subject (publish and
 * subscribe) and, by the meta endpoint, a mutation sent on the client meta subject (issue 11,
 * finding 3); an anonymous connection is refused; the secret files are mode 0600.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect, Exit, Layer, Option, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { routerLayer } from "../../src/cli/ClientFlags.js"
import { writeSecurityFiles } from "../../src/cli/commands/security.js"
import * as KvClient from "../../src/client/KvClient.js"
import * as StartNode from "../../src/node/StartNode.js"
import { readClusterSecretFile } from "../../src/transport/ClusterSecret.js"
import * as NatsConn from "../../src/transport/NatsConnection.js"
import { type RunningNatsServer, startNatsServer } from "../../src/transport/NatsServer.js"

const dir = mkdtempSync(join(tmpdir(), "flotilla-security-"))
const enc = new TextEncoder()
const dec = new TextDecoder()
let server: RunningNatsServer
let scope: Scope.CloseableScope
const passwords: Record<string, string> = {}
const conns: NatsConnection[] = []

const envOf = (user: string) =>
  Object.fromEntries(
    readFileSync(join(dir, "out", `${user}.env`), "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split("=", 2) as [string, string]),
  )

const as = async (user: string) => {
  const nc = await connect({
    servers: server.url,
    user,
    pass: passwords[user],
    inboxPrefix: `_INBOX.${user}`,
  })
  conns.push(nc)
  return nc
}

/** Requests until an answer that is not a transient runtime error comes (or 60 s pass). */
const ask = async (nc: NatsConnection, subject: string, body: object): Promise<Record<string, unknown>> => {
  const end = Date.now() + 60_000
  for (;;) {
    try {
      const m = await nc.request(subject, enc.encode(JSON.stringify(body)), { timeout: 3_000 })
      const reply = JSON.parse(dec.decode(m.data)) as Record<string, unknown>
      const transient = ["NotLeader", "Unavailable", "NoLeader", "ProposalFailed", "Overloaded"]
      if (!transient.includes(String(reply._tag ?? reply.error)) || Date.now() > end) return reply
    } catch (e) {
      if (Date.now() > end) throw e
    }
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** The error a subscription of `nc` to `subject` ends with (a permissions violation), if any. */
const subscribeError = async (nc: NatsConnection, subject: string): Promise<string> => {
  const sub = nc.subscribe(subject)
  const closed = sub.closed.then(
    (e) => (e instanceof Error ? e.message : "closed"),
    (e: Error) => e.message,
  )
  await nc.flush()
  return Promise.race([closed, new Promise<string>((r) => setTimeout(() => r("no error"), 5_000))])
}

/** The asynchronous error NATS reports after `nc` publishes to `subject`, if any. */
const publishError = async (nc: NatsConnection, subject: string): Promise<string> => {
  const errors = (async () => {
    for await (const s of nc.status()) if (s.type === "error") return s.error.message
    return "closed"
  })()
  nc.publish(subject, enc.encode("forged"))
  await nc.flush()
  return Promise.race([errors, new Promise<string>((r) => setTimeout(() => r("no error"), 5_000))])
}

beforeAll(async () => {
  const files = writeSecurityFiles(join(dir, "out"), "sec", "127.0.0.1:4222")
  for (const f of files) expect(statSync(f).mode & 0o777).toBe(0o600)
  for (const u of ["node", "client", "operator"]) passwords[u] = envOf(u).FLOTILLA_NATS_PASSWORD!
  const config = readFileSync(files[0]!, "utf8").replace(/^listen:.*$/m, "")
  server = await startNatsServer({ config })
  const secret = await Effect.runPromise(readClusterSecretFile(envOf("node").FLOTILLA_CLUSTER_SECRET_FILE!))
  scope = await Effect.runPromise(Scope.make())
  const layer = StartNode.layer({
    mode: "bootstrap",
    dataDir: join(dir, "node-1"),
    cluster: "sec",
    nats: { servers: server.url, user: "node", pass: passwords.node, inboxPrefix: "_INBOX.node" },
    clusterSecret: secret,
    reportIntervalMs: 300,
    placementIntervalMs: 200,
  })
  await Effect.runPromise(Layer.buildWithScope(layer, scope))
}, 120_000)

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined)
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
  await server?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe("a cluster secured by `flotilla security init`", () => {
  it("lets the operator create a keyspace and the client use every KV operation", async () => {
    const operator = await as("operator")
    const created = await ask(operator, "flotilla.sec.op.meta", {
      _tag: "CreateKeyspace",
      name: "kv",
      shards: 2,
      replicationFactor: 1,
    })
    expect(created._tag).toBe("KeyspaceCreated")
    const client = await as("client")
    const kv = (body: object) => ask(client, "flotilla.sec.kv", body)
    expect((await kv({ op: "put", key: "a", value: "1" })).ok).toBe(true)
    expect(await kv({ op: "get", key: "a" })).toMatchObject({ ok: true, value: "1" })
    expect((await kv({ op: "cas", key: "a", expected: "1", value: "2" })).ok).toBe(true)
    expect((await kv({ op: "put", key: "b", value: "3" })).ok).toBe(true)
    expect(await kv({ op: "scan", prefix: "" })).toMatchObject({ ok: true })
    expect((await kv({ op: "delete", key: "b" })).ok).toBe(true)
    expect(await kv({ op: "get", key: "a" })).toMatchObject({ ok: true, value: "2" })
    const map = await ask(client, "flotilla.sec.cli.meta", { _tag: "GetShardMap", keyspace: "kv" })
    expect(map._tag).toBe("ShardMap")
  }, 120_000)

  it("lets the client user make entity calls on the group subjects through the typed client and the CLI flags", async () => {
    const flags = {
      nats: server.url,
      cluster: "sec",
      timeoutMs: 30_000,
      user: Option.some("client"),
      password: Option.some(passwords.client!),
    }
    const program = Effect.gen(function* () {
      const kv = yield* KvClient.KvClient
      yield* kv.put(enc.encode("typed"), enc.encode("yes"))
      const got = yield* kv.get(enc.encode("typed"))
      return Option.map(got, dec.decode.bind(dec))
    }).pipe(Effect.provide(KvClient.layer.pipe(Layer.provide(routerLayer(flags)))))
    expect(await Effect.runPromise(program)).toEqual(Option.some("yes"))
  }, 60_000)

  it("refuses the client user every internal and operator subject, publish and subscribe", async () => {
    const client = await as("client")
    for (const subject of ["flotilla.sec.int.raft.1", "flotilla.sec.int.live.1", "flotilla.sec.op.meta"])
      expect(await publishError(client, subject)).toMatch(/permissions violation/i)
    for (const subject of [
      "flotilla.sec.int.raft.1",
      "flotilla.sec.op.admin.1",
      "flotilla.sec.kv",
      "_INBOX.node.>",
    ])
      expect(await subscribeError(client, subject)).toMatch(/permissions violation/i)
  }, 60_000)

  it("refuses a meta mutation the client sends on the client subject, and creates nothing (finding 3)", async () => {
    const client = await as("client")
    const reply = await ask(client, "flotilla.sec.cli.meta", {
      _tag: "SetReplicationFactor",
      keyspace: "kv",
      replicationFactor: 3,
    })
    expect(reply._tag).toBe("InvalidArgument")
    expect(String(reply.message)).toMatch(/operator request/)
    const created = await ask(client, "flotilla.sec.cli.meta", {
      _tag: "CreateKeyspace",
      name: "evil",
      shards: 1,
    })
    expect(created._tag).toBe("InvalidArgument")
    const deleted = await ask(client, "flotilla.sec.cli.meta", { _tag: "DeleteKeyspace", name: "kv" })
    expect(deleted._tag).toBe("InvalidArgument")
    const kept = await ask(client, "flotilla.sec.cli.meta", { _tag: "GetShardMap", keyspace: "kv" })
    expect(kept._tag).toBe("ShardMap")
    const admin = await ask(client, "flotilla.sec.cli.admin.1", { op: "transfer-leader", group: 0, to: 1 })
    expect(admin).toMatchObject({ ok: false, error: "Forbidden" })
    const keyspaces = await ask(client, "flotilla.sec.cli.meta", { _tag: "GetShardMap", keyspace: "evil" })
    expect(keyspaces._tag).not.toBe("ShardMap")
  }, 60_000)

  it("refuses an anonymous connection, saying so", async () => {
    const e = await Effect.runPromise(
      Effect.flip(Effect.scoped(NatsConn.make({ servers: server.url, startupTimeout: "10 seconds" }))),
    )
    expect(e._tag).toBe("NatsAuthFailed")
    expect(e.message).toMatch(/anonymous/)
  }, 30_000)
})
