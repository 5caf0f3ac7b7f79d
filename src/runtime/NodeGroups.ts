/**
 * The replicas a node hosts: restarting the ones its store holds, creating new ones
 * (bootstrapping a group, or empty to be filled by the leader), expecting ones a leader is
 * adding, and removing them. Each kind of group is recorded in the `GroupCatalog`
 * (GroupKinds.ts) so that a restart does not depend on reaching the metadata group.
 */
import { Effect, Schema } from "effect"
import type { GroupId } from "../raft/Ids.js"
import type { MemoryStorage } from "../raft/Storage.js"
import type { ReplicaId } from "../raft/Types.js"
import { toMemoryStorage } from "../storage/Restore.js"
import type { NodeContext } from "./NodeContext.js"
import { ownReplicaId } from "./ReplicaStorage.js"
import { GroupNotFound, GroupStopped } from "./RuntimeErrors.js"

/** The group already has a replica on this node. */
export class GroupExists extends Schema.TaggedError<GroupExists>()("GroupExists", {
  groupId: Schema.Number,
}) {}

export interface CreateGroupOptions {
  readonly groupId: GroupId
  readonly replicaId: ReplicaId
  /** The kind's name (recorded in the catalog); default: see `NodeConfig.kinds`. */
  readonly kind?: string
  /** Bootstrap a new group: every initial member is created with the same members. */
  readonly bootstrap?: { readonly voters: readonly ReplicaId[]; readonly learners?: readonly ReplicaId[] }
  /**
   * Campaign as soon as the bootstrap is applied, rather than after an election timeout: the
   * one initial member chosen to lead first (spreads leaders, no election storm at startup).
   */
  readonly campaign?: boolean
}

/** Groups loaded from the store at once when a node restarts. */
const LOAD_CONCURRENCY = 16

/**
 * Restarts every group the store holds. A group that cannot be loaded, or whose stored state
 * does not name a replica on this node, stays down (logged); the others restart.
 */
export const restartStoredGroups = (ctx: NodeContext): Effect.Effect<void> =>
  Effect.gen(function* () {
    const stored = yield* ctx.store.groups.pipe(Effect.orDie)
    // Loads overlap (each is a few store reads on the thread pool); replicas start in order.
    const loads = yield* Effect.forEach(stored, (groupId) => Effect.either(ctx.store.load(groupId)), {
      concurrency: LOAD_CONCURRENCY,
    })
    for (let i = 0; i < stored.length; i++) {
      const groupId = stored[i]!
      const loaded = loads[i]!
      if (loaded._tag === "Left") {
        yield* Effect.logError(`group ${groupId} cannot be loaded and stays stopped: ${loaded.left.message}`)
        continue
      }
      const mem: MemoryStorage = toMemoryStorage(loaded.right)
      const replicaId = ownReplicaId(mem, ctx.nodeId)
      if (replicaId === undefined) {
        yield* Effect.logWarning(`group ${groupId}: stored state does not name this node's replica; skipped`)
        continue
      }
      yield* Effect.try(() =>
        ctx.engine.createReplica({ groupId, replicaId, kind: ctx.kinds.kindFor(groupId), storage: mem }),
      ).pipe(Effect.catchAll((e) => Effect.logError(`group ${groupId} failed to restart: ${String(e)}`)))
    }
  })

/** Creates a replica here (bootstrapping a new group, or empty to be filled by the leader). */
export const createGroup = (
  ctx: NodeContext,
  o: CreateGroupOptions,
): Effect.Effect<void, GroupExists | GroupStopped> =>
  Effect.suspend((): Effect.Effect<void, GroupExists | GroupStopped> => {
    const existing = ctx.engine.replicas.get(o.groupId)
    if (existing !== undefined) {
      return existing.stopped === undefined
        ? Effect.fail(new GroupExists({ groupId: o.groupId }))
        : Effect.fail(new GroupStopped({ groupId: o.groupId, reason: existing.stopped }))
    }
    return Effect.zipRight(
      ctx.kinds.record(o.groupId, o.kind),
      Effect.sync(() => {
        ctx.engine.createReplica({
          groupId: o.groupId,
          replicaId: o.replicaId,
          kind: ctx.kinds.kindFor(o.groupId),
          bootstrap: o.bootstrap,
        }).campaignPending = o.campaign === true
        ctx.wake.raise()
      }),
    )
  })

/** Allows the replica `replicaId` of `groupId` to be created when its first message arrives. */
export const expectReplica = (
  ctx: NodeContext,
  groupId: GroupId,
  replicaId: ReplicaId,
  kind: string | undefined,
): Effect.Effect<void> =>
  Effect.zipRight(
    ctx.kinds.record(groupId, kind),
    Effect.sync(() => ctx.engine.expect(groupId, replicaId, ctx.kinds.kindFor(groupId))),
  )

/** Drops this node's replica of the group (its callers get `GroupNotFound`) and wipes its data. */
export const removeReplica = (ctx: NodeContext, groupId: GroupId): Effect.Effect<void> =>
  Effect.zipRight(
    Effect.sync(() => {
      ctx.engine.destroy(groupId, new GroupNotFound({ groupId, nodeId: ctx.nodeId }))
      ctx.wake.raise()
    }),
    ctx.kinds.forget(groupId),
  )
