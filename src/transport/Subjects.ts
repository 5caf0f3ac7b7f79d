/**
 * NATS subjects of a Flotilla cluster, and the NATS subject rules the in-process bus enforces
 * the same way a nats-server does.
 *
 * Every subject belongs to one of three permission classes, each under one token so that one
 * wildcard grants it (docs/protocol.md gives a ready nats-server `authorization` block):
 *
 * | subject                            | who listens                   | what                          |
 * | ---------------------------------- | ----------------------------- | ----------------------------- |
 * | `<prefix>.<c>.int.raft.<node>`     | that node                     | frames of Raft messages       |
 * | `<prefix>.<c>.int.snap.<node>`     | that node                     | one snapshot chunk each       |
 * | `<prefix>.<c>.int.live.<node>`     | every node                    | liveness pings                |
 * | `<prefix>.<c>.int.meta`            | the metadata group's leader   | node registration, heartbeats |
 * | `<prefix>.<c>.cli.group.<gid>`     | the group's leader only       | client requests               |
 * | `<prefix>.<c>.kv`              | every node, queue group `kv`  | simple clients' entry         |
 * | `<prefix>.<c>.cli.meta`            | the metadata group's leader   | read-only queries (shard map) |
 * | `<prefix>.<c>.cli.admin.<node>`    | that node                     | status, summary, stale reads  |
 * | `<prefix>.<c>.op.meta`             | the metadata group's leader   | keyspaces, replication, nodes |
 * | `<prefix>.<c>.op.admin.<node>`     | that node                     | conf changes, leader transfer |
 *
 * `int` (internal) is for nodes only, `cli` (client) for clients, `op` (operator) for
 * operators. The KV gateway's `<prefix>.<c>.kv` stays where every client in every language
 * already sends (and the permissions grant it to clients by name). Endpoints check the class a request arrived on: a mutation on a `cli` subject is
 * refused, so NATS permissions on the three wildcards are enough to keep clients read-only.
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

/** Who may use a subject: nodes only, clients, or operators. */
export type SubjectClass = "internal" | "client" | "operator"

/** The token of each class, right after `<prefix>.<cluster>`. */
export const CLASS_TOKEN: Readonly<Record<SubjectClass, string>> = {
  internal: "int",
  client: "cli",
  operator: "op",
}

/** What a subject of the cluster addresses (see `ClusterSubjects.parse`). */
export type ParsedSubject =
  | { readonly kind: "raft" | "snap" | "live"; readonly node: NodeId }
  | { readonly kind: "group"; readonly group: GroupId }
  | { readonly kind: "kv" }
  | { readonly kind: "meta"; readonly class: SubjectClass }
  | { readonly kind: "admin"; readonly class: "client" | "operator"; readonly node: NodeId }

/** The subjects of one cluster. */
export interface ClusterSubjects {
  /** `<prefix>.<cluster>`: the stem of every other subject. */
  readonly root: string
  /** `<root>.<class token>.>`: every subject of a class (for permissions). */
  readonly classWildcard: (c: SubjectClass) => string
  /** Raft frames for `node`. */
  readonly raft: (node: NodeId) => string
  /** Snapshot chunks for `node`. */
  readonly snap: (node: NodeId) => string
  /** Liveness pings of `node`. */
  readonly live: (node: NodeId) => string
  /** Every node's liveness pings (a wildcard). */
  readonly liveAll: string
  /** Client requests for the leader of `group`. */
  readonly group: (group: GroupId) => string
  /**
   * The queue-group entry point of simple clients, `<root>.kv`: the public address of the KV
   * gateway, kept stable for clients in every language; a client-class subject granted by name
   * (decision 0066).
   */
  readonly kv: string
  /** The metadata group's leader, for read-only queries (the client class). */
  readonly meta: string
  /** The metadata group's leader, on the subject of class `c`. */
  readonly metaOf: (c: SubjectClass) => string
  /** `node`'s admin endpoint for read-only requests (status, summary, stale reads). */
  readonly admin: (node: NodeId) => string
  /** `node`'s admin endpoint for every request (the operator class). */
  readonly adminOperator: (node: NodeId) => string
  /**
   * What a subject of this cluster addresses, or undefined for any other subject (another
   * cluster, an unknown kind, a node or group id out of range or not in canonical decimal).
   * Handy under a wildcard subscription such as `<root>.group.*`.
   */
  readonly parse: (subject: string) => ParsedSubject | undefined
}

const CANONICAL_DECIMAL = /^(0|[1-9][0-9]*)$/

const CLASS_OF_TOKEN: Readonly<Record<string, SubjectClass>> = {
  int: "internal",
  cli: "client",
  op: "operator",
}

const parseIn = (root: string, subject: string): ParsedSubject | undefined => {
  if (!subject.startsWith(`${root}.`)) return undefined
  const rest = subject.slice(root.length + 1).split(".")
  // The KV gateway keeps its public address outside the class tokens; it is a client subject.
  if (rest.length === 1 && rest[0] === "kv") return { kind: "kv" }
  const [token, kind, id] = rest
  const c = token === undefined ? undefined : CLASS_OF_TOKEN[token]
  if (c === undefined || kind === undefined) return undefined
  if (rest.length === 2) {
    if (kind === "meta") return { kind, class: c }
    return undefined
  }
  if (rest.length !== 3 || id === undefined || !CANONICAL_DECIMAL.test(id)) return undefined
  const n = Number(id)
  if ((kind === "raft" || kind === "snap" || kind === "live") && c === "internal" && isNodeId(n))
    return { kind, node: n }
  if (kind === "group" && c === "client" && isGroupId(n)) return { kind, group: n }
  if (kind === "admin" && c !== "internal" && isNodeId(n)) return { kind, class: c, node: n }
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
  const int = `${root}.${CLASS_TOKEN.internal}`
  const cli = `${root}.${CLASS_TOKEN.client}`
  const op = `${root}.${CLASS_TOKEN.operator}`
  return {
    root,
    classWildcard: (c) => `${root}.${CLASS_TOKEN[c]}.>`,
    raft: (node) => `${int}.raft.${node}`,
    snap: (node) => `${int}.snap.${node}`,
    live: (node) => `${int}.live.${node}`,
    liveAll: `${int}.live.*`,
    group: (group) => `${cli}.group.${group}`,
    kv: `${root}.kv`,
    meta: `${cli}.meta`,
    metaOf: (c) => `${root}.${CLASS_TOKEN[c]}.meta`,
    admin: (node) => `${cli}.admin.${node}`,
    adminOperator: (node) => `${op}.admin.${node}`,
    parse: (subject) => parseIn(root, subject),
  }
}
