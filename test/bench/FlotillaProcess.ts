/**
 * The built `flotilla` (dist/bin/flotilla.mjs, `npm run build`) run as the benchmarks' nodes and
 * commands: what users run, not a bench-only path.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"

export const BIN = join(import.meta.dirname, "..", "..", "dist", "bin", "flotilla.mjs")

/**
 * `flotilla start` on `dataDir` (`--bootstrap` for the first node of a cluster); `seen` resolves
 * with the first match of `line` in its standard output and the ms from spawn to it, and rejects
 * if the process exits first.
 */
export const startNode = (
  o: {
    readonly dataDir: string
    readonly nats: string
    readonly cluster: string
    readonly bootstrap: boolean
    /** More `flotilla start` flags (e.g. `--cluster-settings` with `bootstrap`). */
    readonly args?: ReadonlyArray<string>
  },
  line: RegExp,
) => {
  const t0 = performance.now()
  const args = [
    "start",
    ...(o.bootstrap ? ["--bootstrap"] : []),
    "--data-dir",
    o.dataDir,
    "--nats",
    o.nats,
    ...(o.args ?? []),
  ]
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args, "--cluster", o.cluster], {
    stdio: ["ignore", "pipe", "pipe"],
  })
  let output = ""
  const seen = new Promise<{ readonly match: RegExpExecArray; readonly ms: number }>((resolve, reject) => {
    child.stdout!.on("data", (c: Buffer) => {
      output += c.toString()
      const match = line.exec(output)
      if (match !== null) resolve({ match, ms: performance.now() - t0 })
    })
    child.stderr!.on("data", (c: Buffer) => (output += c.toString()))
    child.once("exit", (code, signal) => reject(new Error(`node exited (${code ?? signal}):\n${output}`)))
  })
  return { child, seen }
}

/** Runs `flotilla ARGV...`; its output, or an error with it when the command fails. */
export const cli = (argv: ReadonlyArray<string>) =>
  new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    child.stdout.on("data", (c: Buffer) => (out += c.toString()))
    child.stderr.on("data", (c: Buffer) => (out += c.toString()))
    child.once("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`flotilla ${argv.join(" ")}: ${out}`)),
    )
  })
