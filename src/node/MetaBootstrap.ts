/**
 * Creating a cluster: the node started with `--bootstrap` (node 1) creates group 0 with its own
 * replica as the only voter, waits until that replica leads, and proposes `Bootstrap` (its
 * token, name, labels and the initial settings). It then records in its identity file that
 * the cluster exists, so a restart does not bootstrap again. Each step is idempotent: a node
 * that crashed half way through finishes the job at its next start with `--bootstrap`.
 *
 * From then on the metadata group grows by the planner's rule 1 (docs/placement.md): as nodes
 * join, it becomes 3 voters, then 5 when configured.
 */
import { Clock, Data, type Duration, Effect, Option, Schedule } from "effect"
import { type Labels, META_GROUP, META_KIND } from "../meta/ClusterState.js"
import { decodeResponse, encodeCommand, type SettingsPatch } from "../meta/MetaCommand.js"
import { NodeId, replicaIdOf } from "../raft/Ids.js"
import { Node } from "../runtime/Node.js"
import { localMetaState } from "./MetaEndpoint.js"
import type { Identity } from "./NodeIdentity.js"

/** The cluster could not be bootstrapped. */
export class BootstrapFailed extends Data.TaggedError("BootstrapFailed")<{ readonly message: string }> {}

/** What `bootstrapCluster` needs. */
export interface BootstrapOptions {
  readonly identity: Identity
  readonly name: string
  readonly labels: Labels
  /** The state machine kinds the node hosts besides the metadata group's. */
  readonly kinds: ReadonlyArray<string>
  /** Settings of the new cluster (the rest keep their defaults). */
  readonly settings?: SettingsPatch
  /** How long to wait for group 0 to elect its single voter (default 60 s). */
  readonly timeout?: Duration.DurationInput
  /** Records durably that the cluster exists (StartNode: `NodeIdentity.markBootstrapped`). */
  readonly onBootstrapped: Effect.Effect<void, { readonly message: string }>
}

/** See the module comment. */
export const bootstrapCluster = (options: BootstrapOptions) =>
  Effect.gen(function* () {
    const { identity } = options
    if (identity.bootstrapped) return
    if (identity.nodeId !== NodeId(1))
      return yield* new BootstrapFailed({
        message: `only node 1 bootstraps a cluster, this is node ${identity.nodeId}`,
      })
    const node = yield* Node
    const replica = replicaIdOf(identity.nodeId, 0)
    if (Option.isNone(yield* node.status(META_GROUP))) {
      yield* node
        .createGroup({
          groupId: META_GROUP,
          replicaId: replica,
          kind: META_KIND,
          bootstrap: { voters: [replica] },
        })
        .pipe(Effect.mapError((e) => new BootstrapFailed({ message: `cannot create group 0: ${e._tag}` })))
    }
    const leads = node.status(META_GROUP).pipe(Effect.map((s) => Option.isSome(s) && s.value.isLeader))
    yield* leads.pipe(
      Effect.repeat({ until: (l) => l, schedule: Schedule.spaced("20 millis") }),
      Effect.timeoutFail({
        duration: options.timeout ?? "60 seconds",
        onTimeout: () => new BootstrapFailed({ message: "group 0 elected no leader in time" }),
      }),
    )
    if (localMetaState(node)?.bootstrapped !== true) {
      const at = Math.floor(yield* Clock.currentTimeMillis)
      const bytes = yield* node
        .propose(
          META_GROUP,
          encodeCommand({
            _tag: "Bootstrap",
            cluster: identity.cluster,
            token: identity.token,
            name: options.name,
            labels: options.labels,
            kinds: options.kinds,
            settings: options.settings ?? {},
            at,
          }),
        )
        .pipe(
          Effect.mapError((e) => new BootstrapFailed({ message: `Bootstrap not committed: ${e.message}` })),
        )
      const r = decodeResponse(bytes)
      if (r._tag !== "Bootstrapped" && r._tag !== "AlreadyBootstrapped")
        return yield* new BootstrapFailed({ message: `Bootstrap refused: ${JSON.stringify(r)}` })
      yield* Effect.logInfo(`cluster "${identity.cluster}" bootstrapped: this is node 1`)
    }
    yield* options.onBootstrapped.pipe(Effect.mapError((e) => new BootstrapFailed({ message: e.message })))
  })
