/**
 * The flags of the nemesis command line (nemesis-main.ts), checked. Pure.
 */
import { FAULT_KINDS, type FaultKind, isFaultKind } from "./NemesisSchedule.js"

export const USAGE =
  "usage: nemesis [--seconds N] [--seed S] [--nodes N] [--clients N] [--keys N] [--faults kill,pause,natsrestart,leaderkill]"

/** The flags, or a message saying what is wrong with them. */
export const parseNemesisArgs = (
  argv: readonly string[],
  randomSeed: number,
):
  | {
      readonly seed: number
      readonly seconds: number
      readonly nodes: number
      readonly clients: number
      readonly keys: number
      readonly kinds?: FaultKind[]
    }
  | { readonly error: string } => {
  const values = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    const value = argv[i + 1]
    if (!flag.startsWith("--") || value === undefined) return { error: `unexpected "${flag}"; ${USAGE}` }
    values.set(flag.slice(2), value)
    i++
  }
  const known = new Set(["seconds", "seed", "nodes", "clients", "keys", "faults"])
  for (const k of values.keys()) if (!known.has(k)) return { error: `unknown flag --${k}; ${USAGE}` }
  const int = (name: string, fallback: number, lo: number, hi: number): number | string => {
    const text = values.get(name)
    if (text === undefined) return fallback
    const n = Number(text)
    return Number.isInteger(n) && n >= lo && n <= hi
      ? n
      : `--${name} must be an integer in ${lo}..${hi}, got "${text}"`
  }
  const seconds = int("seconds", 120, 10, 86_400)
  const seed = int("seed", randomSeed, 0, 2 ** 32 - 1)
  const nodes = int("nodes", 3, 3, 9)
  const clients = int("clients", 8, 1, 256)
  const keys = int("keys", 24, 1, 10_000)
  for (const v of [seconds, seed, nodes, clients, keys]) if (typeof v === "string") return { error: v }
  const faults = values.get("faults")?.split(",")
  const bad = faults?.find((f) => !isFaultKind(f))
  if (bad !== undefined)
    return { error: `--faults: unknown fault "${bad}" (known: ${FAULT_KINDS.join(", ")})` }
  return {
    seconds: seconds as number,
    seed: seed as number,
    nodes: nodes as number,
    clients: clients as number,
    keys: keys as number,
    ...(faults !== undefined ? { kinds: faults as FaultKind[] } : {}),
  }
}
