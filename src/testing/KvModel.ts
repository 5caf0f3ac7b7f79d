/**
 * The simulator's state machine: a tiny key-value register store whose commands are text.
 * Simple on purpose, so that a failure points at Raft, not at the state machine.
 *
 * Commands: `put <key> <value>`; anything else (e.g. a leader's empty entry) is a no-op.
 */
export type KvCommand = { readonly op: "put"; readonly key: string; readonly value: string }

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export const encodeKv = (c: KvCommand): Uint8Array => encoder.encode(`put ${c.key} ${c.value}`)

export const decodeKv = (data: Uint8Array): KvCommand | undefined => {
  if (data.length === 0) return undefined
  const parts = decoder.decode(data).split(" ")
  if (parts.length !== 3 || parts[0] !== "put") return undefined
  return { op: "put", key: parts[1]!, value: parts[2]! }
}

export class KvModel {
  private readonly data = new Map<string, string>()

  apply(command: Uint8Array): void {
    const c = decodeKv(command)
    if (c) this.data.set(c.key, c.value)
  }

  get(key: string): string | undefined {
    return this.data.get(key)
  }

  snapshot(): Uint8Array {
    const sorted = [...this.data.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return encoder.encode(JSON.stringify(sorted))
  }

  static restore(bytes: Uint8Array): KvModel {
    const m = new KvModel()
    if (bytes.length > 0) {
      for (const [k, v] of JSON.parse(decoder.decode(bytes)) as [string, string][]) m.data.set(k, v)
    }
    return m
  }
}
