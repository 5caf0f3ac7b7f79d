/**
 * Real node processes for integration tests, benchmarks and users' fault-injection suites:
 * start `flotilla start` (or, in static mode, `static-node-main.ts`) as a child process, wait until it reports ready, kill it with any
 * signal (SIGKILL for crashes), restart it on the same data directory.
 *
 * From the sources (this repository's tests) the child runs the TypeScript through `tsx`; from
 * the built package (`flotilla/testing`) it runs the built `flotilla` and static node with node.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const HERE = dirname(fileURLToPath(import.meta.url))
/** Running as built JavaScript (dist/src/testing/NodeProcess.js), not as the TypeScript source. */
const BUILT = import.meta.url.endsWith(".js")
/** The repository (sources) or dist/ (built). */
const ROOT = join(HERE, "..", "..")
const MAIN = BUILT ? join(ROOT, "bin", "flotilla.mjs") : join(ROOT, "src", "cli", "main.ts")
const STATIC_MAIN = join(HERE, BUILT ? "static-node-main.js" : "static-node-main.ts")
const LOADER = BUILT ? [] : ["--import", "tsx"]

export interface NodeProcessOptions {
  /**
   * Static mode (the default): the node's id, passed as `--id`. Bootstrap and join modes: the id
   * the node is expected to get from the cluster (its admin subject); `nodeId` reports the real one.
   */
  readonly nodeId: number
  /**
   * How the node joins its cluster: "static" (the default: a `StaticNode` with `--id`, fixed
   * groups, no metadata group), "bootstrap" (`flotilla start --bootstrap`: it creates the cluster)
   * or "join" (`flotilla start --join`: it registers with the metadata group).
   */
  readonly mode?: "static" | "bootstrap" | "join"
  readonly dataDir: string
  /** The NATS server(s), `--nats` (or `embeddedNats`). */
  readonly natsUrl?: string
  /** `--embedded-nats host:port`: the node runs its own nats-server there. */
  readonly embeddedNats?: string
  readonly cluster: string
  /** More flags, e.g. ["--static-groups", "100", "--tick-ms", "50"] for a static node. */
  readonly args?: readonly string[]
  /** How long to wait for the ready line (default 60 s). */
  readonly readyTimeoutMs?: number
}

export class NodeProcess {
  private child: ChildProcess | undefined
  private output: string[] = []
  /** The output of the runs before the current one (a restart starts `output` afresh). */
  private earlier: string[] = []
  private readonly exitLog: Array<{ readonly code: number | null; readonly signal: string | null }> = []
  private exitCode: Promise<number | null> = Promise.resolve(null)
  private readyNode: number | undefined

  constructor(readonly options: NodeProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid
  }

  /** The node id the process announced in its ready line (its id in the cluster). */
  get nodeId(): number | undefined {
    return this.readyNode
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  /** The address of the node's HTTP endpoint, from its `{"event":"http"}` line. */
  get httpUrl(): string | undefined {
    return /"event":"http","url":"([^"]+)"/.exec(this.logs())?.[1]
  }

  /** The process's output so far (stdout and stderr, interleaved by line). */
  logs(): string {
    return this.output.join("")
  }

  /** The output of every run of this process so far, the current one last. */
  allLogs(): string {
    return this.earlier.join("") + this.logs()
  }

  /** How each earlier run of the process ended, in order (exit code or signal). */
  get exits(): ReadonlyArray<{ readonly code: number | null; readonly signal: string | null }> {
    return this.exitLog
  }

  /**
   * Sends `signal` without waiting for anything (SIGSTOP and SIGCONT pause and resume the
   * process); false when the process is not running.
   */
  signal(signal: NodeJS.Signals): boolean {
    if (this.child === undefined || !this.running) return false
    return this.child.kill(signal)
  }

  /** Starts the process and waits for its ready line. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`node ${this.options.nodeId} is already running`)
    const o = this.options
    const args = [
      ...LOADER,
      ...(o.mode === "bootstrap"
        ? [MAIN, "start", "--bootstrap"]
        : o.mode === "join"
          ? [MAIN, "start", "--join"]
          : [STATIC_MAIN, "--id", String(o.nodeId)]),
      "--data-dir",
      o.dataDir,
      ...(o.embeddedNats !== undefined ? ["--embedded-nats", o.embeddedNats] : []),
      ...(o.natsUrl !== undefined ? ["--nats", o.natsUrl] : []),
      "--cluster",
      o.cluster,
      ...(o.args ?? []),
    ]
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
    this.child = child
    this.earlier.push(...this.output)
    this.output = []
    this.readyNode = undefined
    this.exitCode = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.exitLog.push({ code, signal })
        resolve(code)
      }),
    )
    await new Promise<void>((resolve, reject) => {
      const timeout = setTimeout(() => {
        reject(
          new Error(`node ${o.nodeId} not ready within ${o.readyTimeoutMs ?? 60_000} ms:\n${this.logs()}`),
        )
      }, o.readyTimeoutMs ?? 60_000)
      const onData = (chunk: Buffer) => {
        const text = chunk.toString()
        this.output.push(text)
        const ready = /"event":"ready","node":(\d+)/.exec(this.logs())
        if (ready !== null && this.readyNode === undefined) {
          this.readyNode = Number(ready[1])
          clearTimeout(timeout)
          resolve()
        }
      }
      child.stdout!.on("data", onData)
      child.stderr!.on("data", (chunk: Buffer) => this.output.push(chunk.toString()))
      child.once("exit", (code, signal) => {
        clearTimeout(timeout)
        reject(new Error(`node ${o.nodeId} exited (${code ?? signal}) before it was ready:\n${this.logs()}`))
      })
    })
  }

  /** Sends `signal` and waits for the process to exit. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<number | null> {
    const child = this.child
    if (child === undefined || !this.running) return null
    child.kill(signal)
    const code = await Promise.race([
      this.exitCode,
      new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 15_000)),
    ])
    if (code === "timeout") {
      child.kill("SIGKILL")
      return this.exitCode
    }
    return code
  }

  /** A clean stop (SIGTERM: in-flight callers answered, store flushed). */
  stop(): Promise<number | null> {
    return this.kill("SIGTERM")
  }
}
