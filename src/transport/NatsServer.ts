/**
 * A `nats-server` launcher for tests and users' test suites.
 *
 * - Finds the binary (`options.binary`, then `nats-server` on PATH, then /usr/sbin and
 *   /usr/local/bin) and fails with a clear `NatsServerNotInstalled` when there is none.
 * - Starts it on a free port of 127.0.0.1 — NEVER 4222 unless asked explicitly, so a
 *   system NATS there is never used by accident — with an optional configuration text
 *   (written to a private temp directory), and waits until it accepts connections (a TCP
 *   client reads the server's `INFO` line).
 * - Stops it by PID: SIGTERM, then SIGKILL after `stopTimeoutMillis`. `restart()` starts it
 *   again on the SAME port (clients reconnect to the same URL). Servers still running when
 *   the process exits are killed.
 *
 * Two APIs: `startNatsServer(options)` returns a Promise (plain async code), and `make` /
 * `layer` give a scoped Effect resource (`NatsServer` tag) stopped with its scope.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer, connect as tcpConnect } from "node:net"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { Context, Data, Effect, Layer, type Scope } from "effect"

/** How to start the server. */
export interface NatsServerOptions {
  /** Path of the binary (default: PATH, then /usr/sbin/nats-server, /usr/local/bin/nats-server). */
  readonly binary?: string
  /** Listen address (default 127.0.0.1). */
  readonly host?: string
  /** Listen port (default: a free port, never 4222). */
  readonly port?: number
  /** nats-server configuration text (e.g. an `authorization { … }` block). */
  readonly config?: string
  /** Extra command-line arguments. */
  readonly args?: ReadonlyArray<string>
  /** How long to wait for the server to accept connections (default 10 s). */
  readonly startTimeoutMillis?: number
  /** How long to wait after SIGTERM before SIGKILL (default 5 s). */
  readonly stopTimeoutMillis?: number
}

/** No nats-server binary could be found. */
export class NatsServerNotInstalled extends Error {
  /** Discriminates this error. */
  readonly _tag = "NatsServerNotInstalled"
  constructor(readonly searched: ReadonlyArray<string>) {
    super(
      `nats-server is not installed: looked for ${searched.join(", ")}. Install it (e.g. apt-get install nats-server, or a release from https://github.com/nats-io/nats-server/releases) or pass options.binary.`,
    )
    this.name = "NatsServerNotInstalled"
  }
}

/** The server did not come up (it exited, or never accepted a connection in time). */
export class NatsServerStartFailed extends Error {
  /** Discriminates this error. */
  readonly _tag = "NatsServerStartFailed"
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(output.length > 0 ? `${message}\n--- nats-server output ---\n${output}` : message)
    this.name = "NatsServerStartFailed"
  }
}

/** A server started by `startNatsServer`. */
export interface RunningNatsServer {
  readonly host: string
  readonly port: number
  /** `nats://host:port`. */
  readonly url: string
  /** The PID of the current process, undefined while stopped. */
  readonly pid: () => number | undefined
  readonly isRunning: () => boolean
  /** SIGTERM, then SIGKILL; resolves once the process has exited. Idempotent. */
  readonly stop: () => Promise<void>
  /** Starts it again on the same port (no-op when running). */
  readonly start: () => Promise<void>
  /** `stop()` then `start()`. */
  readonly restart: () => Promise<void>
  /** Stops it and removes its temp directory. */
  readonly close: () => Promise<void>
  /** The last lines the server printed. */
  readonly output: () => string
}

const FALLBACK_PATHS = ["/usr/sbin/nats-server", "/usr/local/bin/nats-server", "/usr/bin/nats-server"]
const RESERVED_PORT = 4222

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The nats-server binary to use, or a `NatsServerNotInstalled` error listing where it looked. */
export const findNatsServer = (binary?: string): string | NatsServerNotInstalled => {
  const candidates =
    binary !== undefined
      ? [binary]
      : [
          ...(process.env.PATH ?? "")
            .split(delimiter)
            .filter((d) => d.length > 0)
            .map((d) => join(d, "nats-server")),
          ...FALLBACK_PATHS,
        ]
  return (
    candidates.find(isExecutable) ?? new NatsServerNotInstalled(binary !== undefined ? [binary] : candidates)
  )
}

/** A TCP port that was free on `host` a moment ago; never 4222. */
export const freePort = async (host = "127.0.0.1"): Promise<number> => {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer()
      srv.once("error", reject)
      srv.listen(0, host, () => {
        const address = srv.address()
        const p = typeof address === "object" && address !== null ? address.port : 0
        srv.close(() => resolve(p))
      })
    })
    if (port !== RESERVED_PORT && port > 0) return port
  }
}

const live = new Set<ChildProcess>()
let exitHookInstalled = false
const installExitHook = () => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once("exit", () => {
    for (const child of live) if (child.pid !== undefined) child.kill("SIGKILL")
  })
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Resolves true once a TCP client on host:port receives the server's INFO line. */
const probe = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = tcpConnect({ host, port })
    let data = ""
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1_000, () => done(false))
    socket.on("error", () => done(false))
    socket.on("data", (chunk) => {
      data += chunk.toString("latin1")
      if (data.startsWith("INFO ")) done(true)
      else if (data.length >= 5) done(false)
    })
  })

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()))

/**
 * Starts a nats-server and waits until it accepts connections. Rejects with
 * `NatsServerNotInstalled` or `NatsServerStartFailed`.
 */
export const startNatsServer = async (options: NatsServerOptions = {}): Promise<RunningNatsServer> => {
  const binary = findNatsServer(options.binary)
  if (typeof binary !== "string") throw binary
  installExitHook()
  const host = options.host ?? "127.0.0.1"
  const startTimeout = options.startTimeoutMillis ?? 10_000
  const stopTimeout = options.stopTimeoutMillis ?? 5_000
  const dir = mkdtempSync(join(tmpdir(), "flotilla-nats-"))
  const configPath = join(dir, "nats.conf")
  if (options.config !== undefined) writeFileSync(configPath, options.config)
  const lines: string[] = []
  const remember = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) if (line.length > 0) lines.push(line)
    if (lines.length > 200) lines.splice(0, lines.length - 200)
  }
  let child: ChildProcess | undefined
  let port = options.port ?? (await freePort(host))

  const spawnOnce = async (): Promise<void> => {
    // Something else answering on the port would pass the readiness probe below.
    if (await probe(host, port)) {
      throw new NatsServerStartFailed(`${host}:${port} is already in use by another process`, "")
    }
    const args = ["-a", host, "-p", String(port)]
    if (options.config !== undefined) args.push("-c", configPath)
    args.push(...(options.args ?? []))
    const proc = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] })
    child = proc
    live.add(proc)
    proc.stdout?.on("data", remember)
    proc.stderr?.on("data", remember)
    proc.once("exit", () => live.delete(proc))
    const spawnError = new Promise<Error>((resolve) => proc.once("error", resolve))
    const deadline = Date.now() + startTimeout
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        await sleep(100) // its last output may still be in the pipes
        throw new NatsServerStartFailed(
          `nats-server exited with ${proc.exitCode ?? proc.signalCode}`,
          lines.join("\n"),
        )
      }
      const failed = await Promise.race([spawnError, sleep(0).then(() => undefined)])
      if (failed !== undefined) throw new NatsServerStartFailed(`cannot run ${binary}: ${failed.message}`, "")
      if (await probe(host, port)) return
      if (Date.now() > deadline) {
        await stopChild(proc)
        throw new NatsServerStartFailed(
          `nats-server on ${host}:${port} did not accept connections within ${startTimeout} ms`,
          lines.join("\n"),
        )
      }
      await sleep(25)
    }
  }

  const stopChild = async (proc: ChildProcess): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return
    const gone = exited(proc)
    const signal = (name: NodeJS.Signals) => {
      try {
        process.kill(proc.pid!, name)
      } catch {
        // already gone (ESRCH): `gone` resolves on its exit event
      }
    }
    signal("SIGTERM")
    const timedOut = await Promise.race([gone.then(() => false), sleep(stopTimeout).then(() => true)])
    if (timedOut && proc.exitCode === null && proc.signalCode === null) {
      signal("SIGKILL")
      await gone
    }
  }

  const start = async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) return
    await spawnOnce()
  }

  for (let attempt = 1; ; attempt++) {
    try {
      await spawnOnce()
      break
    } catch (e) {
      const portTaken = e instanceof NatsServerStartFailed && /address already in use/i.test(e.output)
      if (!portTaken || options.port !== undefined || attempt >= 5) {
        rmSync(dir, { recursive: true, force: true })
        throw e
      }
      lines.length = 0
      port = await freePort(host)
    }
  }

  const stop = async () => {
    if (child !== undefined) await stopChild(child)
  }
  return {
    host,
    port,
    url: `nats://${host}:${port}`,
    pid: () =>
      child !== undefined && child.exitCode === null && child.signalCode === null ? child.pid : undefined,
    isRunning: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    stop,
    start,
    restart: async () => {
      await stop()
      await start()
    },
    close: async () => {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    },
    output: () => lines.join("\n"),
  }
}

/** Why the Effect API could not start the server. */
export class NatsServerError extends Data.TaggedError("NatsServerError")<{
  readonly reason: "NotInstalled" | "StartFailed"
  readonly message: string
}> {}

const toEffectError = (e: unknown): NatsServerError =>
  new NatsServerError({
    reason: e instanceof NatsServerNotInstalled ? "NotInstalled" : "StartFailed",
    message: e instanceof Error ? e.message : String(e),
  })

/** A running server as an Effect resource. */
export interface NatsServerHandle {
  readonly host: string
  readonly port: number
  readonly url: string
  readonly pid: Effect.Effect<number | undefined>
  readonly stop: Effect.Effect<void>
  readonly start: Effect.Effect<void, NatsServerError>
  readonly restart: Effect.Effect<void, NatsServerError>
  /** The Promise-based handle underneath. */
  readonly server: RunningNatsServer
}

/** Starts a server for the scope's lifetime (closed — stopped and cleaned up — with it). */
export const make = (
  options: NatsServerOptions = {},
): Effect.Effect<NatsServerHandle, NatsServerError, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.tryPromise({ try: () => startNatsServer(options), catch: toEffectError }),
      (server) => Effect.promise(() => server.close()),
    ),
    (server) => ({
      host: server.host,
      port: server.port,
      url: server.url,
      pid: Effect.sync(server.pid),
      stop: Effect.promise(server.stop),
      start: Effect.tryPromise({ try: server.start, catch: toEffectError }),
      restart: Effect.tryPromise({ try: server.restart, catch: toEffectError }),
      server,
    }),
  )

/** A nats-server started for tests. */
export class NatsServer extends Context.Tag("flotilla/transport/NatsServer")<
  NatsServer,
  NatsServerHandle
>() {}

/** The server as a layer (`it.layer(NatsServer.layer())`). */
export const layer = (options: NatsServerOptions = {}): Layer.Layer<NatsServer, NatsServerError> =>
  Layer.scoped(NatsServer, make(options))
