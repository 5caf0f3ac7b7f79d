/**
 * The cluster secret (docs/security.md, docs/decisions/0065): 32 or more random bytes every node
 * of a cluster shares, kept in a file (`--cluster-secret-file`, hex text). Keys derived from it
 * (HKDF-SHA256, one per use) authenticate what only nodes may send:
 *
 * - every Raft frame: HMAC-SHA256 over the whole frame, appended as its last 32 bytes
 *   (`FrameAuth`): one tag per published frame, not per message;
 * - every liveness ping: the sender's clock and an HMAC over cluster, node and clock
 *   (`LivenessAuth`); a receiver takes a ping only when its clock is later than the last one
 *   it took from that node, so a recorded ping cannot be replayed.
 *
 * A tag that does not verify means the payload is dropped and counted: never decoded further.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto"
import { readFile, stat } from "node:fs/promises"
import { Data, Effect } from "effect"

/** Bytes of an HMAC-SHA256 tag. */
export const TAG_BYTES = 32
/** Fewest bytes a cluster secret holds. */
export const MIN_SECRET_BYTES = 32

/** The secret, as raw bytes (never logged). */
export interface ClusterSecret {
  readonly _tag: "ClusterSecret"
  readonly bytes: Uint8Array
}

/** The secret file is missing, unreadable, too short or not hex. */
export class ClusterSecretError extends Data.TaggedError("ClusterSecretError")<{
  readonly path: string
  readonly message: string
}> {}

const HEX = /^(?:[0-9a-fA-F]{2})+$/

/** The secret in `text` (hex, surrounding whitespace ignored), or why not. */
export const parseClusterSecret = (text: string): ClusterSecret | string => {
  const hex = text.trim()
  if (!HEX.test(hex)) return "the cluster secret must be hex text (as `flotilla security init` writes it)"
  if (hex.length / 2 < MIN_SECRET_BYTES)
    return `the cluster secret holds ${hex.length / 2} bytes; at least ${MIN_SECRET_BYTES} are needed`
  return { _tag: "ClusterSecret", bytes: new Uint8Array(Buffer.from(hex, "hex")) }
}

/** A new random secret as the hex text a secret file holds (with a final newline). */
export const generateClusterSecretText = (): string => `${randomBytes(MIN_SECRET_BYTES).toString("hex")}\n`

/**
 * Reads the secret file at `path`. Fails with `ClusterSecretError` when it is missing,
 * unreadable, not hex or too short, or readable by group or others (it must be mode 0600 or
 * stricter, like an ssh key).
 */
export const readClusterSecretFile = (path: string): Effect.Effect<ClusterSecret, ClusterSecretError> =>
  Effect.gen(function* () {
    const fail = (message: string) =>
      new ClusterSecretError({ path, message: `cluster secret ${path}: ${message}` })
    const info = yield* Effect.tryPromise({ try: () => stat(path), catch: (e) => fail((e as Error).message) })
    if (!info.isFile()) return yield* fail("not a regular file")
    if ((info.mode & 0o077) !== 0)
      return yield* fail(`mode ${(info.mode & 0o777).toString(8)} lets others read it; chmod 600 it`)
    const text = yield* Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (e) => fail((e as Error).message),
    })
    const parsed = parseClusterSecret(text)
    return typeof parsed === "string" ? yield* fail(parsed) : parsed
  })

const deriveKey = (secret: ClusterSecret, use: string): Buffer =>
  Buffer.from(hkdfSync("sha256", secret.bytes, "flotilla cluster secret", use, 32))

const hmac = (key: Buffer, ...parts: ReadonlyArray<Uint8Array | string>): Buffer => {
  const h = createHmac("sha256", key)
  for (const p of parts) h.update(p)
  return h.digest()
}

/** Seals and opens Raft frames. */
export interface FrameAuth {
  /** The frame followed by its 32-byte tag. */
  readonly seal: (frame: Uint8Array) => Uint8Array
  /** The frame inside `payload` when its tag verifies; otherwise undefined. */
  readonly open: (payload: Uint8Array) => Uint8Array | undefined
}

/** The frame authenticator of `secret`. */
export const frameAuth = (secret: ClusterSecret): FrameAuth => {
  const key = deriveKey(secret, "raft frames")
  return {
    seal: (frame) => {
      const out = new Uint8Array(frame.length + TAG_BYTES)
      out.set(frame, 0)
      out.set(hmac(key, frame), frame.length)
      return out
    },
    open: (payload) => {
      if (payload.length < TAG_BYTES) return undefined
      const frame = payload.subarray(0, payload.length - TAG_BYTES)
      const tag = payload.subarray(payload.length - TAG_BYTES)
      return timingSafeEqual(hmac(key, frame), tag) ? frame : undefined
    },
  }
}

/** Bytes of a signed liveness ping: the clock (float64) and the tag. */
export const PING_BYTES = 8 + TAG_BYTES

/** Signs and checks liveness pings. */
export interface LivenessAuth {
  /** The ping of `node` in cluster `root` at clock `at` (milliseconds). */
  readonly sign: (root: string, node: number, at: number) => Uint8Array
  /** The clock of a ping that verifies as `node`'s of cluster `root`; otherwise undefined. */
  readonly check: (root: string, node: number, payload: Uint8Array) => number | undefined
}

const pingMac = (key: Buffer, root: string, node: number, clock: Uint8Array) =>
  hmac(key, `${root}\0${node}\0`, clock)

/** The liveness authenticator of `secret`. */
export const livenessAuth = (secret: ClusterSecret): LivenessAuth => {
  const key = deriveKey(secret, "liveness pings")
  return {
    sign: (root, node, at) => {
      const out = new Uint8Array(PING_BYTES)
      new DataView(out.buffer).setFloat64(0, at)
      out.set(pingMac(key, root, node, out.subarray(0, 8)), 8)
      return out
    },
    check: (root, node, payload) => {
      if (payload.length !== PING_BYTES) return undefined
      const clock = payload.subarray(0, 8)
      if (!timingSafeEqual(pingMac(key, root, node, clock), payload.subarray(8))) return undefined
      const at = new DataView(payload.buffer, payload.byteOffset, 8).getFloat64(0)
      return Number.isFinite(at) ? at : undefined
    },
  }
}
