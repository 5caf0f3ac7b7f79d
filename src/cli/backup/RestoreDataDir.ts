/**
 * `flotilla restore`: writes the data directory of node 1 of a new cluster from a backup
 * (decision 0111). The backup is verified first. Then, one group at a time (one shard's state
 * in memory at once):
 *
 * - the group's Raft log becomes a snapshot at the backed-up applied index and term, holding
 *   the backed-up state, with the new node's replica as its only voter (hard state: that term,
 *   committed up to that index), and the group catalog records its kind;
 * - the metadata group's snapshot holds the backed-up state with the new membership
 *   (MetaRestore.ts).
 *
 * Last, `identity.json` says node 1 of a bootstrapped cluster. `flotilla start --data-dir DIR`
 * then restarts every group from its snapshot; other nodes join with `--join`.
 */
import { mkdir, readdir } from "node:fs/promises"
import { hostname } from "node:os"
import { Clock, Effect, Either, Option } from "effect"
import type { ClusterState } from "../../meta/ClusterState.js"
import { decodeState, encodeState } from "../../meta/MetaStateMachine.js"
import * as NodeIdentity from "../../node/NodeIdentity.js"
import { storeLayer } from "../../node/StartNode.js"
import { GroupId } from "../../raft/Ids.js"
import { emptyConfState, type ReplicaId } from "../../raft/Types.js"
import { GroupCatalog } from "../../runtime/GroupCatalog.js"
import { LogStore } from "../../storage/LogStore.js"
import { BackupError, type SectionRecord, sectionsOf } from "./BackupFormat.js"
import { type BackupFile, openBackup, readSection } from "./BackupReader.js"
import { verifyBackup } from "./BackupVerify.js"
import { RESTORED_NODE, restoreState } from "./MetaRestore.js"

/** What `restoreDataDir` needs. */
export interface RestoreOptions {
  readonly file: string
  readonly dataDir: string
  /** The new cluster's name (default: the backed-up cluster's). */
  readonly cluster?: string
  /** The new node's display name (default: the host name). */
  readonly name?: string
}

/** What was restored. */
export interface RestoreSummary {
  readonly cluster: string
  readonly groups: number
  readonly keyspaces: number
}

const fail = (message: string) => new BackupError({ message })

/** A section's whole data (one group's state: what a replica holds in memory anyway). */
const sectionBytes = (file: BackupFile, name: string, record: SectionRecord) =>
  Effect.gen(function* () {
    const data = new Uint8Array(record.size)
    let at = 0
    yield* readSection(file, name, record, (chunk) => {
      data.set(chunk, at)
      at += chunk.length
    })
    return data
  })

/** Writes one group's log: a snapshot at `record`'s index holding `data`, `replica` its only voter. */
const writeGroup = (record: SectionRecord, replica: ReplicaId, kind: string, data: Uint8Array) =>
  Effect.gen(function* () {
    const store = yield* LogStore
    const catalog = yield* GroupCatalog
    const groupId = GroupId(record.group)
    yield* store
      .write([
        {
          groupId,
          snapshot: {
            metadata: {
              index: record.index,
              term: record.term,
              confState: { ...emptyConfState, voters: [replica] },
            },
            data,
          },
          hardState: { term: record.term, vote: 0 as ReplicaId, commit: record.index },
        },
      ])
      .pipe(Effect.mapError((e) => fail(`group ${record.group}: cannot write its log: ${e.message}`)))
    yield* catalog
      .set(groupId, kind)
      .pipe(Effect.mapError((e) => fail(`group ${record.group}: cannot record its kind: ${e.message}`)))
  })

/**
 * The data directory must be new: a restore never overwrites a node, nor the remains of a
 * restore that stopped half way (its store without an identity).
 */
const checkEmpty = (dataDir: string) =>
  Effect.gen(function* () {
    const identity = yield* NodeIdentity.read(dataDir).pipe(Effect.mapError((e) => fail(e.message)))
    if (Option.isSome(identity))
      return yield* fail(
        `${dataDir} already holds node ${identity.value.node ?? "(unregistered)"} of cluster "${identity.value.cluster}": restore into an empty directory`,
      )
    const entries = yield* Effect.tryPromise({
      // A directory that does not exist yet is made empty.
      try: () => mkdir(dataDir, { recursive: true }).then(() => readdir(dataDir)),
      catch: (e) => fail(`cannot read ${dataDir}: ${(e as Error).message}`),
    })
    if (entries.length > 0)
      return yield* fail(
        `${dataDir} is not empty (${entries.slice(0, 3).join(", ")}): restore into an empty directory`,
      )
  })

/** See the module comment. */
export const restoreDataDir = (o: RestoreOptions): Effect.Effect<RestoreSummary, BackupError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const verified = yield* verifyBackup(o.file)
      if (verified.problems.length > 0)
        return yield* fail(`${o.file} is damaged, nothing restored: ${verified.problems[0]}`)
      yield* checkEmpty(o.dataDir)
      const file = yield* openBackup(o.file)
      const m = file.manifest
      const metaName = sectionsOf(m)[0]!.name
      const metaBytes = yield* sectionBytes(file, metaName, m.metadata)
      const backedUp: ClusterState = yield* Effect.try({
        try: () => decodeState(metaBytes),
        catch: (e) => fail(`the metadata does not decode: ${String(e)}`),
      })
      const cluster = o.cluster ?? m.cluster
      const token = NodeIdentity.newToken()
      const at = yield* Clock.currentTimeMillis
      const records = new Map(sectionsOf(m).map((s) => [s.record.group, s] as const))
      const restored = Either.try({
        try: () =>
          restoreState(
            backedUp,
            { cluster, token, name: o.name ?? hostname(), at },
            (g) => records.get(g)?.record.index,
          ),
        catch: (e) => fail(`cannot restore: ${(e as Error).message}`),
      })
      if (Either.isLeft(restored)) return yield* restored.left
      yield* Effect.gen(function* () {
        for (const g of restored.right.groups) {
          const s = records.get(g.group)!
          const data =
            g.group === m.metadata.group
              ? encodeState(restored.right.state)
              : yield* sectionBytes(file, s.name, s.record)
          yield* writeGroup(s.record, g.replica, g.kind, data)
        }
      }).pipe(
        Effect.provide(storeLayer(o.dataDir)),
        Effect.mapError((e) =>
          e._tag === "BackupError" ? e : fail(`cannot open ${o.dataDir}: ${e.message}`),
        ),
      )
      yield* NodeIdentity.write(o.dataDir, {
        version: 1,
        cluster,
        token,
        node: RESTORED_NODE,
        bootstrapped: true,
      }).pipe(Effect.mapError((e) => fail(e.message)))
      return { cluster, groups: restored.right.groups.length, keyspaces: m.keyspaces.length }
    }),
  )
