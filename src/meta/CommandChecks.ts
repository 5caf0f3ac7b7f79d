/**
 * The input checks shared by the metadata command handlers: names, labels, identities,
 * replication factors and settings. Each returns the refusal (`InvalidArgument`) or undefined
 * (or the normalized value).
 */
import { defaultSettings, type Labels, META_KIND, type Settings } from "./ClusterState.js"
import { InvalidArgument } from "./MetaErrors.js"

/** Largest replication factor accepted (a group of 7 voters tolerates 3 failures). */
export const MAX_REPLICATION_FACTOR = 7
const MAX_LABELS = 32
const MAX_TEXT = 256

const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,64}$/
const KEYSPACE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$/
const KIND_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/

/** A cluster name usable as a NATS subject token. */
export const checkClusterName = (name: string): InvalidArgument | undefined =>
  CLUSTER_NAME.test(name) ? undefined : new InvalidArgument({ message: `bad cluster name "${name}"` })

/** A keyspace name: lower case letters, digits, `-` and `_`, at most 64 characters. */
export const checkKeyspaceName = (name: string): InvalidArgument | undefined =>
  KEYSPACE_NAME.test(name) ? undefined : new InvalidArgument({ message: `bad keyspace name "${name}"` })

/** A state machine kind name (as entity kinds name themselves), never the metadata group's own. */
export const checkKindName = (kind: string): InvalidArgument | undefined => {
  if (!KIND_NAME.test(kind)) return new InvalidArgument({ message: `bad state machine kind "${kind}"` })
  if (kind === META_KIND)
    return new InvalidArgument({ message: `kind "${META_KIND}" is the metadata group's own` })
  return undefined
}

/** Most state machine kinds one node may declare. */
const MAX_KINDS = 64

/** The kinds a node declares it hosts: valid names, at most `MAX_KINDS`; sorted, without duplicates. */
export const normalizeKinds = (kinds: ReadonlyArray<string>): ReadonlyArray<string> | InvalidArgument => {
  if (kinds.length > MAX_KINDS) return new InvalidArgument({ message: `more than ${MAX_KINDS} kinds` })
  for (const k of kinds) {
    const bad = checkKindName(k)
    if (bad) return bad
  }
  return [...new Set(kinds)].sort()
}

/** A node's identity token and display name. */
export const checkIdentity = (token: string, name: string): InvalidArgument | undefined => {
  if (token.length === 0 || token.length > MAX_TEXT)
    return new InvalidArgument({ message: `identity token must have 1..${MAX_TEXT} characters` })
  if (name.length > MAX_TEXT) return new InvalidArgument({ message: `node name longer than ${MAX_TEXT}` })
  return undefined
}

/** Validates labels and returns them with sorted keys, or the refusal. */
export const normalizeLabels = (labels: Labels): Labels | InvalidArgument => {
  const keys = Object.keys(labels).sort()
  if (keys.length > MAX_LABELS) return new InvalidArgument({ message: `more than ${MAX_LABELS} labels` })
  const out: Record<string, string> = {}
  for (const k of keys) {
    const v = labels[k]!
    if (!LABEL_KEY.test(k)) return new InvalidArgument({ message: `bad label key "${k}"` })
    if (v.length > MAX_TEXT) return new InvalidArgument({ message: `label "${k}" longer than ${MAX_TEXT}` })
    out[k] = v
  }
  return out
}

/** A replication factor in 1 .. MAX_REPLICATION_FACTOR. */
export const checkReplicationFactor = (rf: number): InvalidArgument | undefined =>
  rf >= 1 && rf <= MAX_REPLICATION_FACTOR
    ? undefined
    : new InvalidArgument({
        message: `replication factor must be in 1..${MAX_REPLICATION_FACTOR}, got ${rf}`,
      })

/** `base` with `patch` applied, when the result is consistent; the refusal otherwise. */
export const patchSettings = (base: Settings, patch: Partial<Settings>): Settings | InvalidArgument => {
  const s: Settings = { ...defaultSettings, ...base, ...stripUndefined(patch) }
  const bad = checkReplicationFactor(s.replicationFactor)
  if (bad) return bad
  if (s.heartbeatTimeoutMs < 1) return new InvalidArgument({ message: "heartbeatTimeoutMs must be positive" })
  if (s.downTimeoutMs < s.heartbeatTimeoutMs)
    return new InvalidArgument({ message: "downTimeoutMs must not be below heartbeatTimeoutMs" })
  if (s.operatorTimeoutMs < 1 || s.transferTimeoutMs < 1)
    return new InvalidArgument({ message: "operator timeouts must be positive" })
  if (s.maxOperatorsPerNode < 1 || s.maxOperatorsPerCluster < 1)
    return new InvalidArgument({ message: "operator limits must be positive" })
  if (s.maxReplicasPerNode < 1) return new InvalidArgument({ message: "maxReplicasPerNode must be positive" })
  return s
}

const stripUndefined = (patch: Partial<Settings>): Partial<Settings> =>
  Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<Settings>

/** True when `x` is a refusal rather than a value. */
export const isInvalid = (x: unknown): x is InvalidArgument => x instanceof InvalidArgument
