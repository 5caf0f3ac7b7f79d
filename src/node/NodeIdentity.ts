/**
 * A node's identity in a cluster managed by the metadata group: a token generated once and
 * the node id the metadata group gave it, kept in `<dataDir>/identity.json` (written
 * atomically: temp file, fsync, rename, fsync of the directory).
 *
 * How a node gets its identity (`resolve`):
 * - an identity file with an id: the node starts as that id at once (a restart; the agent
 *   registers the same token again, which answers the same id);
 * - `bootstrap` on an empty data directory: the node will create the cluster, so it is node 1
 *   (`Bootstrap` makes its proposer node 1). It refuses when a metadata leader of the cluster
 *   already answers, so a second bootstrap cannot split a cluster in two;
 * - `join` on an empty data directory: the token is written first, then the node registers on
 *   the meta subject (retrying with backoff until a metadata leader answers) and the id is
 *   written. A crash in between registers the same token again: the same id.
 */
import { randomUUID } from "node:crypto"
import { mkdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { Context, Data, Effect, Either, Layer, Option, Schema } from "effect"
import { call, callUntilAnswered } from "../client/MetaCall.js"
import type { Labels } from "../meta/ClusterState.js"
import { NodeIdSchema } from "../meta/IdSchemas.js"
import { NodeId } from "../raft/Ids.js"
import { writeFileAtomically } from "../storage/AtomicFile.js"
import { Bus } from "../transport/Bus.js"
import { clusterSubjects } from "../transport/Subjects.js"

/** The contents of `identity.json`. */
export const IdentityFile = Schema.Struct({
  version: Schema.Literal(1),
  cluster: Schema.String,
  token: Schema.String,
  /** Absent until the metadata group assigned it. */
  node: Schema.optional(NodeIdSchema),
  /** The node bootstrapped the cluster and its `Bootstrap` command applied. */
  bootstrapped: Schema.optionalWith(Schema.Boolean, { default: () => false }),
})
/** See `IdentityFile`. */
export interface IdentityFile extends Schema.Schema.Type<typeof IdentityFile> {}

/** Reading, writing or obtaining the identity failed. */
export class IdentityError extends Data.TaggedError("IdentityError")<{
  readonly path: string
  readonly message: string
}> {}

/** This node's identity. */
export interface Identity {
  readonly nodeId: NodeId
  readonly token: string
  readonly cluster: string
  /** Whether the node bootstrapped the cluster and the `Bootstrap` command applied. */
  readonly bootstrapped: boolean
  /** True when the identity was made by this start (a new node). */
  readonly fresh: boolean
}

/** The identity of this process's node. */
export class NodeIdentity extends Context.Tag("flotilla/node/NodeIdentity")<NodeIdentity, Identity>() {}

/** The identity file's path in a data directory. */
export const identityPath = (dataDir: string): string => join(dataDir, "identity.json")

const decodeFile = Schema.decodeUnknownEither(Schema.parseJson(IdentityFile))

/** The identity file of `dataDir`, if there is one. */
export const read = (dataDir: string): Effect.Effect<Option.Option<IdentityFile>, IdentityError> =>
  Effect.gen(function* () {
    const path = identityPath(dataDir)
    const text = yield* Effect.tryPromise({
      try: () =>
        readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
          if (e.code === "ENOENT") return undefined
          throw e
        }),
      catch: (e) => new IdentityError({ path, message: `cannot read ${path}: ${String(e)}` }),
    })
    if (text === undefined) return Option.none()
    const parsed = decodeFile(text)
    if (Either.isLeft(parsed))
      return yield* new IdentityError({
        path,
        message: `${path} is not a valid identity file: ${parsed.left.message}`,
      })
    return Option.some(parsed.right)
  })

/** Writes the identity file atomically (temp file, fsync, rename, fsync of the directory). */
export const write = (dataDir: string, file: IdentityFile): Effect.Effect<void, IdentityError> => {
  const path = identityPath(dataDir)
  return Effect.tryPromise({
    try: async () => {
      await mkdir(dataDir, { recursive: true })
      await writeFileAtomically(path, `${JSON.stringify(Schema.encodeSync(IdentityFile)(file))}\n`)
    },
    catch: (e) => new IdentityError({ path, message: `cannot write ${path}: ${String(e)}` }),
  })
}

/** A new identity token: 122 random bits, never derived from the host. */
export const newToken = (): string => randomUUID()

/** How this start obtains its identity. */
export interface ResolveOptions {
  readonly dataDir: string
  readonly cluster: string
  readonly subjectPrefix?: string
  readonly mode: "bootstrap" | "join"
  readonly name: string
  readonly labels: Labels
  /** The state machine kinds the node hosts besides the metadata group's (absent: the KV store). */
  readonly kinds?: ReadonlyArray<string>
  /** Per registration attempt (default 2 s). */
  readonly requestTimeoutMs?: number
}

/** See the module comment. Needs the bus for `join` and for the bootstrap check. */
export const resolve = (options: ResolveOptions): Effect.Effect<Identity, IdentityError, Bus> =>
  Effect.gen(function* () {
    const path = identityPath(options.dataDir)
    const fail = (message: string) => new IdentityError({ path, message })
    const existing = yield* read(options.dataDir)
    const subject = clusterSubjects(options.cluster, options.subjectPrefix).metaOf("internal")
    const bus = yield* Bus
    if (Option.isSome(existing)) {
      const f = existing.value
      if (f.cluster !== options.cluster)
        return yield* fail(`the data directory belongs to cluster "${f.cluster}", not "${options.cluster}"`)
      if (options.mode === "bootstrap" && f.node !== undefined && f.node !== 1)
        return yield* fail(
          `the data directory belongs to node ${f.node}, which joined the cluster: start it without --bootstrap`,
        )
      if (f.node !== undefined)
        return {
          nodeId: NodeId(f.node),
          token: f.token,
          cluster: f.cluster,
          bootstrapped: f.bootstrapped,
          fresh: false,
        }
    }
    if (options.mode === "bootstrap") {
      if (Option.isNone(existing)) {
        const answered = yield* Effect.either(call(bus, subject, { _tag: "GetSettings" }, "1 second"))
        if (Either.isRight(answered) || answered.left._tag !== "NoResponders")
          return yield* fail(
            `something already answers on ${subject} (${Either.isRight(answered) ? answered.right._tag : answered.left._tag}): ` +
              `cluster "${options.cluster}" exists or is reachable; join it instead of bootstrapping`,
          )
      }
      const token = Option.isSome(existing) ? existing.value.token : newToken()
      yield* write(options.dataDir, {
        version: 1,
        cluster: options.cluster,
        token,
        node: NodeId(1),
        bootstrapped: false,
      })
      return { nodeId: NodeId(1), token, cluster: options.cluster, bootstrapped: false, fresh: true }
    }
    const token = Option.isSome(existing) ? existing.value.token : newToken()
    if (Option.isNone(existing))
      yield* write(options.dataDir, { version: 1, cluster: options.cluster, token, bootstrapped: false })
    const reply = yield* callUntilAnswered(
      bus,
      subject,
      {
        _tag: "RegisterNode",
        token,
        name: options.name,
        labels: options.labels,
        ...(options.kinds === undefined ? {} : { kinds: options.kinds }),
      },
      {
        timeout: options.requestTimeoutMs ?? 2000,
        onRetry: (attempt, why) =>
          attempt % 10 === 1
            ? Effect.logInfo(
                `joining cluster "${options.cluster}": waiting for a metadata leader on ${subject} (${why})`,
              )
            : Effect.void,
      },
    ).pipe(Effect.mapError((e) => fail(`registration failed: ${e.message}`)))
    if (reply._tag !== "NodeRegistered")
      return yield* fail(`the metadata group refused the registration: ${JSON.stringify(reply)}`)
    yield* write(options.dataDir, {
      version: 1,
      cluster: options.cluster,
      token,
      node: reply.node,
      bootstrapped: false,
    })
    return {
      nodeId: reply.node,
      token,
      cluster: options.cluster,
      bootstrapped: false,
      fresh: !reply.rejoined,
    }
  })

/** Records in the identity file that the cluster was bootstrapped. */
export const markBootstrapped = (dataDir: string, identity: Identity): Effect.Effect<void, IdentityError> =>
  write(dataDir, {
    version: 1,
    cluster: identity.cluster,
    token: identity.token,
    node: identity.nodeId,
    bootstrapped: true,
  })

/** The identity as a layer (see `resolve`). */
export const layer = (options: ResolveOptions): Layer.Layer<NodeIdentity, IdentityError, Bus> =>
  Layer.effect(NodeIdentity, resolve(options))
