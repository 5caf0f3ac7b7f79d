/**
 * `flotilla dev` as users run it, a real process:
 *
 * - over NATS: ready with its status printed; the client commands (`kv put|get|scan|del`,
 *   `status`, `bench`) work against it; Ctrl-C (SIGINT) stops it cleanly; a second run on the
 *   same data directory has the data;
 * - over the in-process bus (`--transport memory`): it says so, and its console answers
 *   commands on stdin.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningNatsServer, startNatsServer } from "../../src/transport/NatsServer.js"
import { runCli } from "./support/RunCli.js"

/** A `flotilla dev` process and everything it printed. */
class DevProcess {
  output = ""
  readonly exited: Promise<number | null>
  private readonly child: ChildProcess

  constructor(args: string[], stdin: "ignore" | "pipe" = "ignore") {
    this.child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "dev", ...args], {
      stdio: [stdin, "pipe", "pipe"],
    })
    this.child.stdout!.on("data", (c: Buffer) => (this.output += c.toString()))
    this.child.stderr!.on("data", (c: Buffer) => (this.output += c.toString()))
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)))
  }

  /** Resolves once the output matches `pattern`; rejects if the process exits first or in `ms`. */
  async waitFor(pattern: RegExp, ms = 90_000): Promise<RegExpMatchArray> {
    const end = Date.now() + ms
    for (;;) {
      const m = this.output.match(pattern)
      if (m !== null) return m
      if (this.child.exitCode !== null)
        throw new Error(`dev exited (${this.child.exitCode}):\n${this.output}`)
      if (Date.now() > end) throw new Error(`dev never printed ${pattern}:\n${this.output}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  write(text: string): void {
    this.child.stdin!.write(text)
  }

  /** Ctrl-C, then the exit code (SIGKILL after `ms`, which fails the expectation on the code). */
  async interrupt(ms = 30_000): Promise<number | null> {
    this.child.kill("SIGINT")
    const timer = setTimeout(() => this.child.kill("SIGKILL"), ms)
    const code = await this.exited
    clearTimeout(timer)
    return code
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill("SIGKILL")
  }
}

let nats: RunningNatsServer
let root: string
const running: DevProcess[] = []

beforeAll(async () => {
  nats = await startNatsServer()
  root = mkdtempSync(join(tmpdir(), "flotilla-dev-test-"))
})

afterAll(async () => {
  for (const d of running) d.kill()
  await nats?.close()
  rmSync(root, { recursive: true, force: true })
})

describe("flotilla dev", () => {
  it("runs a cluster over NATS, serves the client commands, stops on Ctrl-C and keeps its data", async () => {
    const dataDir = join(root, "nats")
    const flags = ["--nats", nats.url, "--cluster", "devtest"]
    const first = new DevProcess(["--data-dir", dataDir, ...flags])
    running.push(first)
    await first.waitFor(/cluster "devtest" ready in [\d.]+ s/)
    expect(first.output).toContain(`bus: NATS at ${nats.url}`)
    // The status table follows the ready line.
    await first.waitFor(/kv\s+1\s+0-4095\s+(n\d|-)\s+n\d n\d n\d/)

    expect((await runCli("kv", "put", "greeting", "hello", ...flags)).out).toBe("created")
    expect((await runCli("kv", "put", "other", "x", ...flags)).out).toBe("created")
    expect((await runCli("kv", "get", "greeting", ...flags)).out).toBe("hello")
    expect((await runCli("kv", "get", "missing", ...flags)).failure).toContain("no key missing")
    expect((await runCli("kv", "scan", ...flags)).out).toBe("greeting\thello\nother\tx")
    expect((await runCli("kv", "del", "other", ...flags)).out).toBe("deleted")
    const status = await runCli("status", ...flags)
    expect(status.out).toMatch(/cluster devtest: 3 node\(s\)/)
    expect(status.out).toMatch(/n1\s+dev-1\s+up/)
    const bench = await runCli(
      "bench",
      "--seconds",
      "1",
      "--clients",
      "4",
      "--keys",
      "50",
      "--json",
      ...flags,
    )
    const result = JSON.parse(bench.out) as { ops: number; errors: object; p99Ms: number }
    expect(result.ops).toBeGreaterThan(0)
    expect(result.errors).toEqual({})

    expect(await first.interrupt()).toBe(0)
    expect(first.output).toContain("stopping the nodes...")
    expect(first.output).toContain(`stopped; the data is in ${dataDir}`)

    const second = new DevProcess(["--data-dir", dataDir, ...flags])
    running.push(second)
    await second.waitFor(/cluster "devtest" ready in [\d.]+ s/)
    expect(second.output).not.toContain("keyspace kv created")
    expect((await runCli("kv", "get", "greeting", ...flags)).out).toBe("hello")
    expect((await runCli("kv", "get", "other", ...flags)).failure).toContain("no key other")
    expect(await second.interrupt()).toBe(0)
  }, 240_000)

  it("runs over the in-process bus and answers its console", async () => {
    const dev = new DevProcess(
      ["--data-dir", join(root, "memory"), "--transport", "memory", "--console"],
      "pipe",
    )
    running.push(dev)
    await dev.waitFor(/ready in [\d.]+ s/)
    expect(dev.output).toContain("bus: the in-process bus")
    dev.write("put fruit apple\nget fruit\nscan\nget nothing\n")
    await dev.waitFor(/fruit\tapple/)
    await dev.waitFor(/\(absent\)/)
    expect(dev.output).toMatch(/created\napple\n/)
    expect(await dev.interrupt()).toBe(0)
  }, 120_000)
})
