/**
 * Smoke test of examples/nats-client: the example runs as its own process (only the NATS
 * package) against a cluster of three managed nodes over a real nats-server, prints every
 * request and reply, and exits cleanly, leaving no keys behind.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Option } from "effect"
import { describe, expect, it } from "vitest"
import * as DevCluster from "../../src/cli/DevCluster.js"
import * as KvClient from "../../src/client/KvClient.js"
import { startNatsServer } from "../../src/transport/NatsServer.js"

const runExample = (server: string, cluster: string) =>
  new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "examples/nats-client/client.ts", "--server", server, "--cluster", cluster],
      { stdio: ["ignore", "pipe", "pipe"] },
    )
    let output = ""
    child.stdout.on("data", (c: Buffer) => (output += c.toString()))
    child.stderr.on("data", (c: Buffer) => (output += c.toString()))
    child.once("exit", (code) => resolve({ code, output }))
  })

describe("examples/nats-client", () => {
  it("runs against a real cluster over NATS", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-example-"))
    const nats = await startNatsServer()
    try {
      await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const dev = yield* DevCluster.start({ dataDir: dir, natsUrl: nats.url, cluster: "ex", nodes: 3 })
            const { code, output } = yield* Effect.promise(() => runExample(nats.url, "ex"))
            expect(output).not.toContain("failed")
            expect(code).toBe(0)
            expect(output).toContain('"ok":true,"created":true')
            expect(output).toContain('"ok":true,"value":"hello"')
            expect(output).toContain('"error":"Conflict"')
            expect(output).toContain('"current":"bonjour"')
            expect(output).toContain('{"key":"example:fruit:apple","value":"apple"}')
            expect(output).toContain('{"key":"example:fruit:cherry","value":"cherry"}')
            expect(output).toContain('"value":"AAEC/f7/"')
            expect(output).toContain('"error":"BadRequest"')
            // It cleaned up after itself.
            const kv = KvClient.make(dev.router)
            const left = yield* kv.scan({ prefix: "example:" })
            expect(left.entries).toEqual([])
            expect(yield* kv.get("example:greeting")).toEqual(Option.none())
          }),
        ),
      )
    } finally {
      await nats.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
