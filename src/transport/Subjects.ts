/**
 * NATS subjects of a Flotilla cluster, and the NATS subject rules the in-process bus enforces
 * the same way a nats-server does.
 *
 * | subject                        | who listens                      | what                      |
 * | ------------------------------ | -------------------------------- | ------------------------- |
 * | `<prefix>.<c>.raft.<node>`     | that node                        | frames of Raft messages   |
 * | `<prefix>.<c>.snap.<node>`     | that node                        | one snapshot chunk each   |
 * | `<prefix>.<c>.group.<gid>`     | the group's leader only          | client requests           |
 * | `<prefix>.<c>.kv`              | every node, queue group `kv`     | simple clients' entry     |
 * | `<prefix>.<c>.meta`            | the metadata group's leader      | shard map, join, admin    |
 *
 * The prefix is `flotilla` unless configured (it may hold several tokens: `acme.flotilla`);
 * the cluster name is one token.
 */
import { type GroupId, isGroupId, isNodeId, type NodeId } from "../raft/Ids.js"

/** The default first token(s) of every subject. */
export const DEFAULT_SUBJECT_PREFIX = "flotilla"

/** The queue group every node joins on the `kv` subject. */
export const KV_QUEUE_GROUP = "kv"

const TOKEN = /^[A-Za-z0-9_-]+$/

/** True when `s` is one subject token of letters, digits, `_` and `-` (a cluster name). */
export const isPlainToken = (s: string): boolean => TOKEN.test(s)

/** True when `s` is one or more plain tokens joined by dots (a subject prefix). */
export const isPlainSubject = (s: string): boolean => s.length > 0 && s.split(".").every(isPlainToken)

const hasBadCharacter = (token: string): boolean => /[\s\0]/.test(token)

/**
 * True when NATS accepts `subject` for publishing: non-empty dot-separated tokens, no
 * whitespace, and no wildcard token (`*`, `>`).
 */
export const isValidPublishSubject = (subject: string): boolean => {
  if (subject.length === 0) return false
  for (const token of subject.split(".")) {
    if (token.length === 0 || hasBadCharacter(token) || token === "*" || token === ">") return false
  }
  return true
}

/**
 * True when NATS accepts `subject` for subscribing: like a publish subject, but a token may be
 * the wildcard `*` (exactly one token) and the last token may be `>` (one or more tokens).
 */
export const isValidSubscribeSubject = (subject: string): boolean => {
  if (subject.length === 0) return false
  const tokens = subject.split(".")
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!
    if (token.length === 0 || hasBadCharacter(token)) return false
    if (token === ">" && i !== tokens.length - 1) return false
  }
  return true
}

/**
 * True when the subscription subject `pattern` (which may hold `*` and a final `>`) matches
 * the literal subject `subject`, by NATS's rules.
 */
export const subjectMatches = (pattern: string, subject: string): boolean => {
  if (pattern === subject) return true
  const p = pattern.split(".")
  const s = subject.split(".")
  for (let i = 0; i < p.length; i++) {
    const token = p[i]!
    if (token === ">") return s.length > i
    if (i >= s.length) return false
    if (token !== "*" && token !== s[i]) return false
  }
  return p.length === s.length
}

/** True when a subject holds a wildcard token, so it can only be subscribed to. */
export const hasWildcard = (subject: string): boolean =>
  subject.split(".").some((t) => t === "*" || t === ">")

/** What a subject of the cluster addresses (see `ClusterSubjects.parse`). */
export type ParsedSubject =
  | { readonly kind: "raft" | "snap"; readonly node: NodeId }
  | { readonly kind: "group"; readonly group: GroupId }
  | { readonly kind: "kv" | "meta" }

/** The subjects of one cluster. */
export interface ClusterSubjects {
  /** `<prefix>.<cluster>`: the stem of every other subject. */
  readonly root: string
  /** Raft frames for `node`. */
  readonly raft: (node: NodeId) => string
  /** Snapshot chunks for `node`. */
  readonly snap: (node: NodeId) => string
  /** Client requests for the leader of `group`. */
  readonly group: (group: GroupId) => string
  /** The queue-group entry point of simple clients. */
  readonly kv: string
  /** The metadata group's leader. */
  readonly meta: string
  /**
   * What a subject of this cluster addresses, or undefined for any other subject (another
   * cluster, an unknown kind, a node or group id out of range or not in canonical decimal).
   * Handy under a wildcard subscription such as `<root>.group.*`.
   */
  readonly parse: (subject: string) => ParsedSubject | undefined
}

const CANONICAL_DECIMAL = /^(0|[1-9][0-9]*)$/

const parseIn = (root: string, subject: string): ParsedSubject | undefined => {
  if (!subject.startsWith(`${root}.`)) return undefined
  const rest = subject.slice(root.length + 1).split(".")
  const [kind, id] = rest
  if (rest.length === 1 && (kind === "kv" || kind === "meta")) return { kind }
  if (rest.length !== 2 || id === undefined || !CANONICAL_DECIMAL.test(id)) return undefined
  const n = Number(id)
  if ((kind === "raft" || kind === "snap") && isNodeId(n)) return { kind, node: n }
  if (kind === "group" && isGroupId(n)) return { kind, group: n }
  return undefined
}

/** Why a prefix or cluster name was refused. */
export class InvalidSubjectName extends Error {
  /** Discriminates this error in unions. */
  readonly _tag = "InvalidSubjectName"
  constructor(
    readonly field: "prefix" | "cluster",
    readonly value: string,
  ) {
    super(
      field === "cluster"
        ? `cluster name ${JSON.stringify(value)} must be one token of letters, digits, '_' and '-'`
        : `subject prefix ${JSON.stringify(value)} must be dot-separated tokens of letters, digits, '_' and '-'`,
    )
    this.name = "InvalidSubjectName"
  }
}

/**
 * The subjects of cluster `cluster` under `prefix`. THROWS `InvalidSubjectName` when either is
 * not plain (a configuration bug, caught where options are read).
 */
export const clusterSubjects = (
  cluster: string,
  prefix: string = DEFAULT_SUBJECT_PREFIX,
): ClusterSubjects => {
  if (!isPlainSubject(prefix)) throw new InvalidSubjectName("prefix", prefix)
  if (!isPlainToken(cluster)) throw new InvalidSubjectName("cluster", cluster)
  const root = `${prefix}.${cluster}`
  return {
    root,
    raft: (node) => `${root}.raft.${node}`,
    snap: (node) => `${root}.snap.${node}`,
    group: (group) => `${root}.group.${group}`,
    kv: `${root}.kv`,
    meta: `${root}.meta`,
    parse: (subject) => parseIn(root, subject),
  }
}
