/**
 * `flotilla security init --tls` against a real nats-server running the generated
 * configuration: the certificates carry the asked-for names and chain to the CA, the key files
 * are private; a `flotilla start` process reading node.env and CLI commands given the
 * operator's and client's credentials and the CA create a keyspace and put and get a key over
 * TLS; a connection without the CA fails with a TLS error, and a plain-text one is dropped.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { X509Certificate } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { connect as tcpConnect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as NatsConn from "../../src/transport/NatsConnection.js"
import { freePort, type RunningNatsServer, startNatsServer } from "../../src/transport/NatsServer.js"
import { runCli } from "./support/RunCli.js"

const hasOpenssl = spawnSync("openssl", ["version"]).status === 0
const dir = mkdtempSync(join(tmpdir(), "flotilla-security-tls-"))
const out = join(dir, "out")
let port: number
let url: string
let server: RunningNatsServer | undefined
let node: ChildProcess | undefined
let nodeOutput = ""
let initOutput = ""

const envOf = (user: string): Record<string, string> =>
  Object.fromEntries(
    readFileSync(join(out, `${user}.env`), "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split("=", 2) as [string, string]),
  )

/** The connection flags of `user` from its environment file, CA included. */
const flagsOf = (user: string): string[] => {
  const env = envOf(user)
  return [
    ...["--nats", url, "--cluster", "tls", "--user", env.FLOTILLA_NATS_USER!],
    ...["--password", env.FLOTILLA_NATS_PASSWORD!, "--tlsca", env.FLOTILLA_NATS_TLSCA!],
  ]
}

/** Runs the command until it succeeds (the new cluster elects its leaders meanwhile) or 60 s pass. */
const untilOk = async (...args: string[]) => {
  const end = Date.now() + 60_000
  for (;;) {
    const r = await runCli(...args)
    if (r.failure === undefined || Date.now() > end) return r
    await new Promise((r) => setTimeout(r, 300))
  }
}

afterAll(async () => {
  node?.kill("SIGKILL")
  await server?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe.skipIf(!hasOpenssl)("a cluster secured by `flotilla security init --tls`", () => {
  beforeAll(async () => {
    port = await freePort()
    const init = await runCli(
      ...["security", "init", "--tls", "--out", out, "--cluster", "tls", "--listen", `127.0.0.1:${port}`],
      ...["--tls-host", "bus.example,10.9.8.7", "--tls-host", "other.example"],
    )
    expect(init.failure).toBeUndefined()
    initOutput = init.out
    url = `tls://127.0.0.1:${port}`
    server = await startNatsServer({ port, config: readFileSync(join(out, "nats.conf"), "utf8") })
    node = spawn(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "start", "--bootstrap", "--data-dir", join(dir, "n1")].concat([
        "--cluster",
        "tls",
        "--nats",
        url,
      ]),
      // As `set -a; . node.env` would: the node's user, password, cluster secret and CA.
      { env: { ...process.env, ...envOf("node") }, stdio: ["ignore", "pipe", "pipe"] },
    )
    node.stdout!.on("data", (c: Buffer) => (nodeOutput += c.toString()))
    node.stderr!.on("data", (c: Buffer) => (nodeOutput += c.toString()))
    const end = Date.now() + 90_000
    while (!/"event":"ready","node":1/.test(nodeOutput)) {
      if (node.exitCode !== null || Date.now() > end)
        throw new Error(`the node did not start:\n${nodeOutput}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }, 120_000)

  it("writes certificates with the asked-for names, private keys, a tls block and the CA in every env file", () => {
    const at = (f: string) => join(out, f)
    for (const f of ["ca-key.pem", "server-key.pem", "nats.conf", "node.env", "client.env", "cluster.secret"])
      expect(statSync(at(f)).mode & 0o777).toBe(0o600)
    for (const f of ["ca.pem", "server.pem"]) expect(statSync(at(f)).mode & 0o777).toBe(0o644)
    const ca = new X509Certificate(readFileSync(at("ca.pem")))
    const cert = new X509Certificate(readFileSync(at("server.pem")))
    expect(ca.ca).toBe(true)
    expect(cert.ca).toBe(false)
    expect(cert.checkIssued(ca) && cert.verify(ca.publicKey)).toBe(true)
    expect(cert.subjectAltName?.split(", ").sort()).toEqual(
      [
        "DNS:bus.example",
        "DNS:localhost",
        "DNS:other.example",
        "IP Address:10.9.8.7",
        "IP Address:127.0.0.1",
      ].sort(),
    )
    const conf = readFileSync(at("nats.conf"), "utf8")
    expect(conf).toContain(`cert_file: ${JSON.stringify(at("server.pem"))}`)
    expect(conf).toContain(`key_file: ${JSON.stringify(at("server-key.pem"))}`)
    expect(conf).toContain(`ca_file: ${JSON.stringify(at("ca.pem"))}`)
    for (const user of ["node", "client", "operator"])
      expect(envOf(user).FLOTILLA_NATS_TLSCA).toBe(at("ca.pem"))
    expect(initOutput).toContain(`--nats tls://127.0.0.1:${port}`)
  })

  it("refuses to overwrite, a bad --tls-host, and --tls-host without --tls, each in one line", async () => {
    const again = await runCli("security", "init", "--tls", "--out", out, "--cluster", "tls")
    expect(again.failure).toMatch(/refusing to overwrite .*nats\.conf/)
    const fresh = join(dir, "fresh")
    const bad = await runCli("security", "init", "--tls", "--out", fresh, "--tls-host", "bad host")
    expect(bad.failure).toMatch(/TLS host "bad host" is neither a DNS name nor an IP address/)
    const without = await runCli("security", "init", "--out", fresh, "--tls-host", "x.example")
    expect(without.failure).toMatch(/--tls-host needs --tls/)
  })

  it("lets the operator create a keyspace and the client put and get a key over TLS", async () => {
    const created = await untilOk(
      "keyspace",
      "create",
      "kv",
      "--shards",
      "1",
      "--replication",
      "1",
      ...flagsOf("operator"),
    )
    expect(created.failure).toBeUndefined()
    const put = await untilOk("kv", "put", "greeting", "hello", ...flagsOf("client"))
    expect(put.failure).toBeUndefined()
    const got = await runCli("kv", "get", "greeting", ...flagsOf("client"))
    expect(got.failure).toBeUndefined()
    expect(got.out.trim()).toBe("hello")
  }, 150_000)

  it("fails a connection without the CA with a TLS error", async () => {
    const client = envOf("client")
    const e = await Effect.runPromise(
      Effect.flip(
        Effect.scoped(
          NatsConn.make({
            servers: url,
            user: "client",
            pass: client.FLOTILLA_NATS_PASSWORD!,
            startupTimeout: "10 seconds",
          }),
        ),
      ),
    )
    expect(e._tag).toBe("NatsTlsError")
    expect(e.message).toMatch(
      /TLS setup failed: unable to verify the first certificate \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/,
    )
  }, 30_000)

  it("drops a plain-text connection: the server requires TLS and never answers the PING", async () => {
    const client = envOf("client")
    const socket = tcpConnect(port, "127.0.0.1")
    let received = ""
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()))
    socket.on("error", () => undefined)
    const info = await new Promise<string>((resolve) =>
      socket.on("data", (c: Buffer) => {
        received += c.toString()
        if (received.includes("\r\n")) resolve(received)
      }),
    )
    expect(JSON.parse(info.slice("INFO ".length))).toMatchObject({ tls_required: true })
    const connect = { user: "client", pass: client.FLOTILLA_NATS_PASSWORD, verbose: false, pedantic: false }
    socket.write(`CONNECT ${JSON.stringify(connect)}\r\nPING\r\n`)
    await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000))])
    expect(socket.destroyed || socket.readableEnded).toBe(true)
    expect(received).not.toContain("PONG")
    socket.destroy()
  }, 30_000)
})
