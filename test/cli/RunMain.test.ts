/**
 * The `flotilla` process's stop policy (src/cli/RunMain.ts) over a fake process: the first
 * Ctrl-C interrupts the command and the process exits once its clean stop is done; the same
 * Ctrl-C delivered twice (terminal + `npm start`) is one; a later Ctrl-C forces exit 130 while
 * the stop still runs; without a signal the process exits only on failure.
 */
import { Deferred, Effect } from "effect"
import { describe, expect, it } from "vitest"
import { FORCED_EXIT_CODE, type MainProcess, runMain } from "../../src/cli/RunMain.js"

/** A process whose signals the test sends and whose exits and stderr it records. */
const fakeProcess = () => {
  const listeners = new Map<string, Set<() => void>>()
  const exits: number[] = []
  const stderr: string[] = []
  let now = 0
  let exited: (code: number) => void = () => {}
  const exit = new Promise<number>((resolve) => (exited = resolve))
  const proc: MainProcess = {
    on: (signal, listener) => {
      const set = listeners.get(signal) ?? new Set()
      set.add(listener)
      listeners.set(signal, set)
    },
    off: (signal, listener) => void listeners.get(signal)?.delete(listener),
    exit: (code) => {
      exits.push(code)
      exited(code)
    },
    stderr: (line) => void stderr.push(line),
    now: () => now,
  }
  return {
    proc,
    exits,
    stderr,
    exit,
    signal: (signal: "SIGINT" | "SIGTERM", at: number) => {
      now = at
      for (const l of [...(listeners.get(signal) ?? [])]) l()
    },
    listening: () => (listeners.get("SIGINT")?.size ?? 0) + (listeners.get("SIGTERM")?.size ?? 0),
  }
}

/** A command that runs until interrupted, then takes until `release` to stop, then says so. */
const slowStopper = () =>
  Effect.gen(function* () {
    const started = yield* Deferred.make<void>()
    const release = yield* Deferred.make<void>()
    const stopped: string[] = []
    const command = Effect.never.pipe(
      Effect.onInterrupt(() =>
        Deferred.await(release).pipe(Effect.andThen(Effect.sync(() => stopped.push("stopped")))),
      ),
    )
    const main = Deferred.succeed(started, undefined).pipe(Effect.andThen(command))
    return { started, release, stopped, main }
  }).pipe(Effect.runSync)

describe("runMain", () => {
  it("stops cleanly on the first Ctrl-C and treats a duplicate delivery as the same one", async () => {
    const p = fakeProcess()
    const s = slowStopper()
    runMain(s.main, { process: p.proc, duplicateWindowMs: 1000 })
    await Effect.runPromise(Deferred.await(s.started))
    p.signal("SIGINT", 10_000)
    p.signal("SIGINT", 10_005) // npm start forwards the terminal's SIGINT: a second copy
    expect(p.stderr).toEqual(["flotilla: stopping (Ctrl-C again to force)"])
    await new Promise((r) => setTimeout(r, 20))
    expect(p.exits).toEqual([])
    await Effect.runPromise(Deferred.succeed(s.release, undefined))
    expect(await p.exit).toBe(0)
    expect(s.stopped).toEqual(["stopped"])
    // The handlers stay until the process is gone: a late copy of the Ctrl-C cannot kill it
    // between the stop and the exit (it is taken as the same Ctrl-C, or forces).
    expect(p.listening()).toBe(2)
  })

  it("forces exit 130 on a second Ctrl-C while the stop still runs, and says so", async () => {
    const p = fakeProcess()
    const s = slowStopper()
    runMain(s.main, { process: p.proc, duplicateWindowMs: 1000 })
    await Effect.runPromise(Deferred.await(s.started))
    p.signal("SIGTERM", 10_000)
    p.signal("SIGINT", 12_000)
    expect(await p.exit).toBe(FORCED_EXIT_CODE)
    expect(s.stopped).toEqual([])
    expect(p.stderr[1]).toMatch(/forced exit before the clean stop finished/)
    await Effect.runPromise(Deferred.succeed(s.release, undefined))
  })

  it("exits 1 on a failure and leaves a success to end by itself", async () => {
    const failing = fakeProcess()
    runMain(Effect.fail(new Error("no")), { process: failing.proc })
    expect(await failing.exit).toBe(1)

    const done = fakeProcess()
    const finished = await new Promise<boolean>((resolve) => {
      runMain(
        Effect.sync(() => resolve(true)),
        { process: done.proc },
      )
    })
    expect(finished).toBe(true)
    await new Promise((r) => setTimeout(r, 20))
    expect(done.exits).toEqual([])
    expect(done.listening()).toBe(0)
  })
})
