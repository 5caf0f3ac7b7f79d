/**
 * The driver of a simulation of real nodes (`RuntimeSim`, `PlacementSim`): its virtual time
 * (RuntimeSimTime.ts), its log, and the ways a test moves time on.
 *
 * Every fiber of the simulation starts through `fork` (or `run`), so it runs on the virtual
 * clock and scheduler and logs into the simulation's log: a ring of the last lines, each
 * stamped with virtual time and the node that logged it (the `node` log annotation). Time
 * only moves when the test drives it: `advance`, `join` and `run` (until an effect is done),
 * `until` (until a condition holds).
 *
 * The simulation's scope (`scope`) holds everything made inside the simulation; when the
 * caller's scope closes, it is closed in virtual time, so the nodes stop gracefully.
 */
import {
  Cause,
  Data,
  Effect,
  Exit,
  type Fiber,
  FiberId,
  FiberRef,
  HashMap,
  HashSet,
  Logger,
  LogLevel,
  Option,
  Scope,
} from "effect"
import { VirtualTime } from "./RuntimeSimTime.js"

/** A condition did not hold in time (virtual milliseconds). */
export class SimTimeout extends Data.TaggedError("SimTimeout")<{
  readonly what: string
  readonly afterMillis: number
  readonly message: string
}> {}

/** How to build a driver. */
export interface SimDriverOptions {
  /** Virtual time at the start, in ms since the epoch (default 0); `now()` counts from here. */
  readonly epochMs?: number
  /** Log lines kept (default 200). */
  readonly keepLogLines?: number
  /** Also hands every log line here. */
  readonly onLog?: (line: string) => void
  /** How a log line names the node that logged it (default `[node <n>]`). */
  readonly nodeLabel?: (node: unknown) => string
  /**
   * Only the simulation's log sees its fibers' lines, from level Info up (default: the
   * simulation's log is added to the loggers and level in place where the driver was made).
   */
  readonly exclusiveLog?: boolean
}

/** Options of `run` and `join`. */
export interface RunOptions {
  /** Virtual milliseconds to drive before giving up (default 600,000). */
  readonly timeoutMs?: number
  /** What the effect is, for the `SimTimeout` message. */
  readonly what?: string
}

/** See the module comment. */
export interface SimDriver {
  readonly time: VirtualTime
  /** The simulation's scope (see the module comment). */
  readonly scope: Scope.CloseableScope
  /** Virtual milliseconds since the start. */
  readonly now: () => number
  /** The last log lines. */
  readonly logs: () => ReadonlyArray<string>
  /** Adds a line to the log as is. */
  readonly record: (line: string) => void
  /** Starts `effect` inside the simulation; it progresses whenever time is driven. */
  readonly fork: <A, Err>(effect: Effect.Effect<A, Err>) => Fiber.RuntimeFiber<A, Err>
  /** Drives time until `fiber` is done; its result. */
  readonly join: <A, Err>(
    fiber: Fiber.RuntimeFiber<A, Err>,
    options?: RunOptions,
  ) => Effect.Effect<A, Err | SimTimeout>
  /** Runs `effect` inside the simulation, driving time until it is done. */
  readonly run: <A, Err>(
    effect: Effect.Effect<A, Err>,
    options?: RunOptions,
  ) => Effect.Effect<A, Err | SimTimeout>
  /** Lets `millis` of virtual time pass. */
  readonly advance: (millis: number) => Effect.Effect<void>
  /** Drives time in steps of `stepMs` (default 25) until `cond`, run inside the simulation, holds. */
  readonly until: <Err>(
    what: string,
    cond: Effect.Effect<boolean, Err>,
    options?: { readonly timeoutMs?: number; readonly stepMs?: number },
  ) => Effect.Effect<void, Err | SimTimeout>
}

/** Virtual milliseconds `run` and `join` drive before giving up (default). */
const DEFAULT_RUN_LIMIT = 600_000

/** Virtual milliseconds between two checks of a condition (`until`, default). */
export const POLL_MS = 25

/** The simulation's logger: lines stamped with virtual time and the node. */
const simLogger = (now: () => number, label: (node: unknown) => string, record: (line: string) => void) =>
  Logger.make(({ logLevel, message, annotations, cause }) => {
    const node = HashMap.get(annotations, "node")
    const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
    const why = Cause.isEmpty(cause) ? "" : ` | ${Cause.pretty(cause).split("\n")[0]}`
    record(`t=${now()} ${Option.isSome(node) ? `${label(node.value)} ` : ""}${logLevel.label} ${text}${why}`)
  })

/** A ring of the last `keep` lines. */
const logRing = (keep: number, onLog: ((line: string) => void) | undefined) => {
  const ring: string[] = []
  const record = (line: string) => {
    ring.push(line)
    if (ring.length > keep) ring.splice(0, ring.length - keep)
    onLog?.(line)
  }
  return { record, lines: (): ReadonlyArray<string> => [...ring] }
}

/** Drives `time` until `fiber` is done, or interrupts it after `options.timeoutMs`. */
const joinOn =
  (time: VirtualTime, now: () => number) =>
  <A, Err>(fiber: Fiber.RuntimeFiber<A, Err>, options?: RunOptions): Effect.Effect<A, Err | SimTimeout> =>
    Effect.gen(function* () {
      const limit = options?.timeoutMs ?? DEFAULT_RUN_LIMIT
      const started = now()
      yield* Effect.promise(() => time.advance(limit, () => fiber.unsafePoll() !== null))
      const exit = fiber.unsafePoll()
      if (exit !== null) return yield* exit
      fiber.unsafeInterruptAsFork(FiberId.none)
      yield* Effect.promise(() => time.settle())
      const what = options?.what ?? "a simulated effect"
      return yield* new SimTimeout({
        what,
        afterMillis: now() - started,
        message: `${what} did not finish within ${limit} ms of virtual time`,
      })
    })

/** Builds a driver; the simulation's scope closes (in virtual time) with the caller's scope. */
export const make = (options: SimDriverOptions = {}): Effect.Effect<SimDriver, never, Scope.Scope> =>
  Effect.gen(function* () {
    const epoch = options.epochMs ?? 0
    const time = new VirtualTime(epoch)
    const now = () => time.now() - epoch
    const log = logRing(options.keepLogLines ?? 200, options.onLog)
    const logger = simLogger(now, options.nodeLabel ?? ((n) => `[node ${n}]`), log.record)
    const runtime = yield* Effect.runtime<never>()
    const inSim = <A, Err>(effect: Effect.Effect<A, Err>): Effect.Effect<A, Err> =>
      options.exclusiveLog === true
        ? effect.pipe(
            Effect.locally(FiberRef.currentLoggers, HashSet.make(logger)),
            Effect.locally(FiberRef.currentMinimumLogLevel, LogLevel.Info),
          )
        : Effect.locallyWith(effect, FiberRef.currentLoggers, HashSet.add(logger))
    const fork = <A, Err>(effect: Effect.Effect<A, Err>) => time.fork(runtime, inSim(effect))
    const join = joinOn(time, now)
    const run = <A, Err>(effect: Effect.Effect<A, Err>, o?: RunOptions) =>
      Effect.suspend(() => join(fork(effect), o))
    const until: SimDriver["until"] = (what, cond, o) =>
      Effect.gen(function* () {
        const limit = o?.timeoutMs ?? 60_000
        const start = now()
        for (;;) {
          if (yield* run(cond, { what: `checking ${what}` })) return
          if (now() - start >= limit)
            return yield* new SimTimeout({
              what,
              afterMillis: now() - start,
              message: `${what}: not reached within ${limit} ms of virtual time`,
            })
          yield* Effect.promise(() => time.advance(o?.stepMs ?? POLL_MS))
        }
      })
    const scope = yield* Scope.make()
    // Stop everything (gracefully: this is the end of the test, not a crash) with the scope.
    yield* Effect.addFinalizer(() =>
      run(Scope.close(scope, Exit.void), { timeoutMs: 120_000, what: "stopping the simulation" }).pipe(
        Effect.ignore,
      ),
    )
    return {
      time,
      scope,
      now,
      logs: log.lines,
      record: log.record,
      fork,
      join,
      run,
      advance: (millis) => Effect.promise(() => time.advance(millis)).pipe(Effect.asVoid),
      until,
    } satisfies SimDriver
  })
