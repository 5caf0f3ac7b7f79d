/**
 * `flotilla start` starting and stopping as an operator sees it, a real process:
 *
 * - with no NATS server at its URL it says so within 5 s and keeps saying it while it retries,
 *   and Ctrl-C stops it at once with the clean-stop line;
 * - a running node stopped by Ctrl-C delivered twice (the terminal's SIGINT plus the copy
 *   `npm start` forwards a moment later) still ends with the clean-stop line and exit code 0.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { freePort } from "../../src/transport/NatsServer.js"

const root = mkdtempSync(join(tmpdir(), "flotilla-startstop-"))
const children: StartProcess[] = []

afterAll(() => {
  for (const c of children) c.kill()
  rmSync(root, { recursive: true, force: true })
})

/** A `flotilla start` process (the sources through tsx) and everything it printed. */
class StartProcess {
  output = ""
  readonly exited: Promise<number | null>
  private readonly child: ChildProcess

  constructor(args: string[]) {
    this.child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "start", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    })
    this.child.stdout!.on("data", (c: Buffer) => (this.output += c.toString()))
    this.child.stderr!.on("data", (c: Buffer) => (this.output += c.toString()))
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)))
    children.push(this)
  }

  /** Resolves once the output matches `pattern` `count` times; rejects on exit or after `ms`. */
  async waitFor(pattern: RegExp, count = 1, ms = 90_000): Promise<RegExpMatchArray[]> {
    const end = Date.now() + ms
    for (;;) {
      const all = [...this.output.matchAll(new RegExp(pattern.source, "g"))]
      if (all.length >= count) return all
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`start exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.output}`)
      if (Date.now() > end)
        throw new Error(`start never printed ${pattern} ${count} time(s):\n${this.output}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal)
  }

  /** The exit code, or the signal that killed the process. */
  async ended(ms = 30_000): Promise<number | string | null> {
    const timer = setTimeout(() => this.kill(), ms)
    const code = await this.exited
    clearTimeout(timer)
    return code ?? this.child.signalCode
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL")
  }
}

describe("flotilla start: start and stop", () => {
  it("says that NATS is unreachable within 5 s, keeps saying it, and stops on Ctrl-C", async () => {
    const port = await freePort()
    const node = new StartProcess([
      "--bootstrap",
      "--data-dir",
      join(root, "unreachable"),
      "--nats",
      `nats://127.0.0.1:${port}`,
    ])
    const reports = await node.waitFor(/nats: cannot reach nats:\/\/127\.0\.0\.1:\d+ for (\d+) s/, 2)
    // Seconds since the node began connecting, as it reports them (not this test's clock).
    expect(Number(reports[0]![1])).toBeLessThanOrEqual(5)
    expect(Number(reports[1]![1])).toBeGreaterThan(Number(reports[0]![1]))
    node.signal("SIGINT")
    expect(await node.ended()).toBe(0)
    expect(node.output).toContain('{"event":"stopped","node":null')
  })

  it("ends with the clean-stop line when Ctrl-C arrives twice in a row", async () => {
    const port = await freePort()
    const node = new StartProcess([
      "--bootstrap",
      "--data-dir",
      join(root, "twice"),
      "--embedded-nats",
      `127.0.0.1:${port}`,
      "--cluster",
      "startstop",
    ])
    await node.waitFor(/"event":"ready","node":1/)
    node.signal("SIGINT")
    // The copy comes a moment later (two signals sent at once may merge into one delivery).
    await new Promise((r) => setTimeout(r, 100))
    node.signal("SIGINT")
    expect(await node.ended()).toBe(0)
    expect(node.output).toMatch(/\{"event":"stopped","node":1,"pid":\d+\}/)
    expect(node.output).toContain("flotilla: stopping (Ctrl-C again to force)")
  })
})
