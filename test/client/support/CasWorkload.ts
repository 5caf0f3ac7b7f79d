/**
 * A concurrent compare-and-set workload that records its history for the linearizability
 * checker (`casModel` of src/testing/Linearizability.ts). Each client reads a key and tries to
 * swap in a value of its own, sometimes reads alone or overwrites; values are unique, so a
 * history that no sequential order explains (a lost update, a stale read, a CAS applied twice
 * or against the wrong value) fails the check.
 *
 * The clients are behind a small Promise interface so that one workload drives the Effect
 * client, the Promise client and raw NATS requests to the gateway alike.
 */
import {
  type CasInput,
  type CasOutput,
  casModel,
  checkLinearizable,
  describeHistory,
  type Operation,
} from "../../../src/testing/Linearizability.js"

/** How a client reports outcomes: throw an error whose `_tag` is `Timeout` when unknown. */
export interface RegisterClient {
  get(key: string): Promise<string | null>
  put(key: string, value: string): Promise<void>
  cas(
    key: string,
    expected: string | null,
    value: string,
  ): Promise<{ ok: true } | { ok: false; current: string | null }>
}

/** A tiny seeded generator (mulberry32), so each client's choices replay. */
const rng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface CasRun {
  readonly history: Operation<CasInput, CasOutput>[]
  /** Successful swaps (a workload where none succeeds proves little). */
  readonly swaps: number
  /** Swaps refused because another client got there first. */
  readonly conflicts: number
  /** Operations whose outcome is unknown. */
  readonly unknown: number
  /** Operations that failed without effect (left out of the history). */
  readonly failed: number
}

/** Runs `opsPerClient` operations on each client concurrently over `keys`. */
export const runCasWorkload = async (
  clients: ReadonlyArray<RegisterClient>,
  keys: ReadonlyArray<string>,
  opsPerClient: number,
  seed = 1,
): Promise<CasRun> => {
  const history: Operation<CasInput, CasOutput>[] = []
  let swaps = 0
  let conflicts = 0
  let unknown = 0
  let failed = 0
  const record = async (client: number, input: CasInput, run: () => Promise<CasOutput>) => {
    const invokedAt = performance.now()
    try {
      const output = await run()
      history.push({ client, input, output, invokedAt, completedAt: performance.now() })
      return output
    } catch (e) {
      if ((e as { _tag?: string })._tag === "Timeout") {
        unknown++
        history.push({ client, input, output: undefined, invokedAt, completedAt: Number.POSITIVE_INFINITY })
      } else failed++
      return undefined
    }
  }
  await Promise.all(
    clients.map(async (c, id) => {
      const random = rng(seed * 1000 + id)
      for (let i = 0; i < opsPerClient; i++) {
        const key = keys[Math.floor(random() * keys.length)]!
        const value = `c${id}-${i}`
        const dice = random()
        if (dice < 0.1) {
          await record(id, { op: "put", key, value }, async () => {
            await c.put(key, value)
            return { ok: true }
          })
          continue
        }
        const read = await record(id, { op: "get", key }, async () => ({ value: await c.get(key) }))
        if (dice < 0.3 || read === undefined || !("value" in read)) continue
        const out = await record(id, { op: "cas", key, expected: read.value, value }, () =>
          c.cas(key, read.value, value),
        )
        if (out !== undefined && "ok" in out) {
          if (out.ok) swaps++
          else conflicts++
        }
      }
    }),
  )
  return { history, swaps, conflicts, unknown, failed }
}

/** Checks a run; throws with the offending part of the history when it is not linearizable. */
export const assertLinearizable = (run: CasRun): void => {
  const result = checkLinearizable(casModel, run.history)
  if (result.ok === true) return
  if (result.ok === "unknown") throw new Error(`linearizability check inconclusive: ${result.reason}`)
  throw new Error(`history is not linearizable (${result.reason}):\n${describeHistory(result.part)}`)
}
