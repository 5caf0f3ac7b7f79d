/**
 * Which state machine kind each hosted group runs. A group's kind is the one recorded in the
 * `GroupCatalog` when it was created; otherwise `NodeConfig.kindOf` decides, otherwise the
 * first of `NodeConfig.kinds`.
 */
import { Effect } from "effect"
import type { GroupId } from "../raft/Ids.js"
import type { GroupCatalogService } from "./GroupCatalog.js"
import type { NodeConfig } from "./NodeConfig.js"
import type { ShardKind } from "./ShardKind.js"

export class GroupKinds {
  private readonly byName: ReadonlyMap<string, ShardKind>

  constructor(
    private readonly config: NodeConfig,
    private readonly catalog: GroupCatalogService,
  ) {
    this.byName = new Map((config.kinds ?? []).map((k) => [k.name, k]))
  }

  /** The kind of `groupId`. THROWS RangeError when the config names no kind at all. */
  kindFor(groupId: GroupId): ShardKind {
    const named = this.catalog.kindOf(groupId)
    const k = named === undefined ? undefined : this.byName.get(named)
    if (k !== undefined) return k
    if (this.config.kindOf !== undefined) return this.config.kindOf(groupId)
    const first = this.config.kinds?.[0]
    if (first === undefined) throw new RangeError("NodeConfig needs `kinds` or `kindOf`")
    return first
  }

  /** Records (durably) that `groupId` runs `kind`; dies when this node has no such kind. */
  record(groupId: GroupId, kind: string | undefined): Effect.Effect<void> {
    if (kind === undefined) return Effect.void
    return this.byName.has(kind)
      ? this.catalog.set(groupId, kind).pipe(Effect.orDie)
      : Effect.dieMessage(`node ${this.config.nodeId} has no state machine kind "${kind}"`)
  }

  /** Forgets the kind of a group whose replica left this node. */
  forget(groupId: GroupId): Effect.Effect<void> {
    return this.catalog.remove(groupId).pipe(Effect.orDie)
  }
}

/** A catalog for nodes run without one (tests): kinds are remembered for the process only. */
export const memoryCatalog = (): GroupCatalogService => {
  const kinds = new Map<number, string>()
  return {
    kindOf: (g) => kinds.get(g),
    set: (g, kind) => Effect.sync(() => void kinds.set(g, kind)),
    remove: (g) => Effect.sync(() => void kinds.delete(g)),
  }
}
