import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import { afterAll, beforeAll } from "vitest"
import * as NatsConnection from "../../src/transport/NatsConnection.js"
import * as NatsServer from "../../src/transport/NatsServer.js"

describe("reconnect policy (no server needed)", () => {
  it("hands the client maxReconnectAttempts: -1 and a backoff instead of the default give-up", () => {
    const options = NatsConnection.clientOptions(
      { servers: "127.0.0.1:1", user: "u", pass: "p", name: "n1", tls: true },
      ["127.0.0.1:1"],
      NatsConnection.reconnectBackoff(250, 5_000, 0),
    )
    expect(options).toMatchObject({
      maxReconnectAttempts: -1,
      reconnect: true,
      waitOnFirstConnect: false,
      ignoreAuthErrorAbort: true,
      user: "u",
      pass: "p",
      name: "n1",
      tls: {},
    })
    expect(options.reconnectDelayHandler?.()).toBe(250)
  })

  it("waits longer the longer the server has been gone, up to the cap, plus bounded jitter", () => {
    let now = 1_000
    const b = NatsConnection.reconnectBackoff(250, 5_000, 0, () => now)
    expect(b.delay()).toBe(250)
    b.onDisconnect()
    now += 300
    expect(b.delay()).toBe(250)
    now += 3_700
    expect(b.delay()).toBe(2_000)
    now += 60_000
    expect(b.delay()).toBe(5_000)
    b.onReconnect()
    expect(b.delay()).toBe(250)
    const jittery = NatsConnection.reconnectBackoff(100, 1_000, 50)
    for (let i = 0; i < 100; i++) {
      const d = jittery.delay()
      expect(d).toBeGreaterThanOrEqual(100)
      expect(d).toBeLessThanOrEqual(150)
    }
  })

  it.effect("refuses server addresses that are not nats:// or tls:// host:port", () =>
    Effect.gen(function* () {
      expect(yield* NatsConnection.parseServers("nats://a:4222, b:4223,tls://c")).toEqual([
        "nats://a:4222",
        "b:4223",
        "tls://c",
      ])
      for (const bad of ["http://a:80", "nats://exa mple:1", "a:99999", "", "nats://a:1/path"]) {
        const e = yield* Effect.flip(NatsConnection.parseServers(bad))
        expect(e._tag).toBe("NatsInvalidUrl")
      }
    }),
  )
})

describe("NatsConnection against nats-server", () => {
  let auth: NatsServer.RunningNatsServer
  let dir: string
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "flotilla-natsconn-"))
    auth = await NatsServer.startNatsServer({ config: "authorization { user: alice, password: s3cret }" })
  })
  afterAll(async () => {
    await auth?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it.scopedLive("connects with the right user and password and reports connected", () =>
    Effect.gen(function* () {
      const conn = yield* NatsConnection.make({ servers: auth.url, user: "alice", pass: "s3cret" })
      expect(yield* conn.status).toBe("connected")
      expect(conn.isConnected()).toBe(true)
      expect(conn.maxPayload()).toBe(1024 * 1024)
    }),
  )

  it.scopedLive("fails at once with NatsAuthFailed naming the credential refused", () =>
    Effect.gen(function* () {
      const cases: Array<[object, RegExp]> = [
        [{ user: "alice", pass: "wrong" }, /refused user "alice" with its password/],
        [{}, /refused no credential \(an anonymous connection\)/],
        [{ token: "nope" }, /refused the token/],
      ]
      for (const [creds, says] of cases) {
        const e = yield* Effect.flip(
          NatsConnection.make({ servers: auth.url, startupTimeout: "20 seconds", ...creds }),
        )
        expect(e._tag).toBe("NatsAuthFailed")
        expect(e.message).toMatch(says)
      }
    }),
  )

  it.scopedLive("fails with NatsCredentialsError when the creds file cannot be read", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(
        NatsConnection.make({ servers: auth.url, credentials: join(dir, "none.creds") }),
      )
      expect(e).toMatchObject({ _tag: "NatsCredentialsError", path: join(dir, "none.creds") })
    }),
  )

  it.scopedLive("retries a refused server with backoff, then fails with NatsConnectionRefused", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => NatsServer.freePort())
      const e = yield* Effect.flip(
        NatsConnection.make({ servers: `127.0.0.1:${port}`, startupTimeout: "1 second" }),
      )
      expect(e._tag).toBe("NatsConnectionRefused")
      if (e._tag !== "NatsConnectionRefused") return
      expect(e.attempts).toBeGreaterThan(2)
      expect(e.message).toContain(`127.0.0.1:${port}`)
    }),
  )

  it.scopedLive("connects once a server that was down at startup comes up within the startup window", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => NatsServer.freePort())
      const connecting = yield* Effect.fork(
        NatsConnection.make({ servers: `127.0.0.1:${port}`, startupTimeout: "20 seconds" }),
      )
      yield* Effect.sleep("700 millis")
      yield* NatsServer.make({ port })
      const conn = yield* Fiber.join(connecting)
      expect(yield* conn.status).toBe("connected")
    }),
  )

  it.scopedLive("closes with its scope (drained)", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const conn = yield* NatsConnection.make({ servers: auth.url, user: "alice", pass: "s3cret" }).pipe(
        Scope.extend(scope),
      )
      yield* Scope.close(scope, Exit.void)
      expect(conn.connection.isClosed()).toBe(true)
      expect(conn.isConnected()).toBe(false)
    }),
  )
})

const hasOpenssl = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

describe.skipIf(!hasOpenssl)("NatsConnection TLS", () => {
  let dir: string
  let tlsServer: NatsServer.RunningNatsServer
  let plain: NatsServer.RunningNatsServer
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "flotilla-tls-"))
    execFileSync(
      "openssl",
      [
        ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"],
        ...["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
      ],
      { stdio: "ignore" },
    )
    tlsServer = await NatsServer.startNatsServer({
      config: `tls { cert_file: "${join(dir, "cert.pem")}", key_file: "${join(dir, "key.pem")}" }`,
    })
    plain = await NatsServer.startNatsServer()
  })
  afterAll(async () => {
    await tlsServer?.close()
    await plain?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it.scopedLive("connects over TLS when the CA is given", () =>
    Effect.gen(function* () {
      const conn = yield* NatsConnection.make({
        servers: tlsServer.url,
        tls: { caFile: join(dir, "cert.pem") },
      })
      expect(yield* conn.status).toBe("connected")
    }),
  )

  it.scopedLive(
    "fails with NatsTlsError on an untrusted certificate, a missing CA file, or a server without TLS",
    () =>
      Effect.gen(function* () {
        const attempts: NatsConnection.NatsConnectionOptions[] = [
          { servers: tlsServer.url, tls: true },
          { servers: tlsServer.url },
          { servers: tlsServer.url, tls: { caFile: join(dir, "missing.pem") } },
          { servers: plain.url, tls: true },
        ]
        for (const options of attempts) {
          const e = yield* Effect.flip(NatsConnection.make({ ...options, startupTimeout: "20 seconds" }))
          expect(e._tag).toBe("NatsTlsError")
        }
      }),
  )
})
