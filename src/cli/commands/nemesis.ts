/**
 * `flotilla nemesis`: the real-process fault-injection run against the KV store (N nodes over
 * their own nats-server, kill -9, SIGSTOP, nats-server restart, leader kills) with its verdict:
 * operations ok/failed/unknown, linearizability, acknowledged writes lost, recovery times; the
 * exit code is non-zero on a violation.
 *
 * The runner is test tooling (src/testing/Nemesis.ts), which production code does not import
 * (docs/architecture.md): this command runs the runner's entry, `src/testing/nemesis-main`, as a
 * child process with the same flags and exits with its exit code
 * (docs/decisions/0078-nemesis-runner-in-testing.md).
 */
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Command, Options } from "@effect/cli"
import { Command as Process } from "@effect/platform"
import { Effect, Option } from "effect"

const nodes = Options.integer("nodes").pipe(
  Options.withDescription("node processes (3..9)"),
  Options.withDefault(3),
)
const seconds = Options.integer("seconds").pipe(
  Options.withDescription("length of the workload; faults stop 5 s before its end"),
  Options.withDefault(120),
)
const seed = Options.integer("seed").pipe(
  Options.withDescription("the seed of the fault schedule and the clients (default: random, printed)"),
  Options.optional,
)
const clients = Options.integer("clients").pipe(
  Options.withDescription("concurrent KV clients through the gateway"),
  Options.withDefault(8),
)
const keys = Options.integer("keys").pipe(Options.withDescription("distinct keys"), Options.withDefault(24))
const faults = Options.text("faults").pipe(
  Options.withDescription(
    "the fault kinds, comma-separated: kill, pause, natsrestart, leaderkill (default: all)",
  ),
  Options.optional,
)

/** The runner's entry next to this build: TypeScript through tsx in a checkout, else JavaScript. */
const entry = (): { readonly file: string; readonly node: readonly string[] } => {
  const ts = fileURLToPath(new URL("../../testing/nemesis-main.ts", import.meta.url))
  if (existsSync(ts)) return { file: ts, node: ["--import", "tsx"] }
  return { file: fileURLToPath(new URL("../../testing/nemesis-main.js", import.meta.url)), node: [] }
}

/** `flotilla nemesis`. */
export const nemesis = Command.make("nemesis", { nodes, seconds, seed, clients, keys, faults }, (o) =>
  Effect.gen(function* () {
    const { file, node } = entry()
    if (!existsSync(file))
      return yield* Effect.fail(new Error(`the nemesis runner is not installed (${file})`))
    const args = [
      ...["--nodes", String(o.nodes), "--seconds", String(o.seconds)],
      ...["--clients", String(o.clients), "--keys", String(o.keys)],
      ...Option.match(o.seed, { onNone: () => [], onSome: (s) => ["--seed", String(s)] }),
      ...Option.match(o.faults, { onNone: () => [], onSome: (f) => ["--faults", f] }),
    ]
    const code = yield* Process.make(process.execPath, ...node, file, ...args).pipe(
      Process.stdin("inherit"),
      Process.stdout("inherit"),
      Process.stderr("inherit"),
      Process.exitCode,
    )
    if (code !== 0)
      return yield* Effect.fail(
        new Error(
          code === 1
            ? "the nemesis found a violation (see above)"
            : `the nemesis run failed (exit code ${code})`,
        ),
      )
  }),
).pipe(
  Command.withDescription(
    "fault-injection run against the KV store on real processes: kill -9, SIGSTOP, nats-server restart, leader kills; prints the verdict, exits non-zero on a violation",
  ),
)
