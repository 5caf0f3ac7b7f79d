/**
 * `flotilla backup create`: the metadata group's state, then every shard of every keyspace it
 * lists, each read at one applied index through Raft on its leader (SnapshotFetch.ts) and
 * streamed into the file (BackupWriter.ts); the manifest last. Shards are read one after the
 * other: each is consistent in itself (linearizable), the backup as a whole is not one cut.
 */
import { Clock, Effect } from "effect"
import { Router } from "../../client/Router.js"
import { type ClusterState, META_GROUP } from "../../meta/ClusterState.js"
import { decodeState } from "../../meta/MetaStateMachine.js"
import { nodeOfReplica } from "../../raft/Ids.js"
import type { ReplicaId } from "../../raft/Types.js"
import { Bus } from "../../transport/Bus.js"
import {
  BACKUP_FORMAT,
  BackupError,
  type KeyspaceRecord,
  type Manifest,
  type SectionRecord,
} from "./BackupFormat.js"
import { type BackupWriter, openWriter } from "./BackupWriter.js"
import { type FetchOptions, fetchGroup } from "./SnapshotFetch.js"

/** What `createBackup` needs. */
export interface CreateOptions {
  readonly out: string
  readonly cluster: string
  readonly subjectPrefix?: string
  /** Per group: how long it is retried before the backup gives up. */
  readonly timeoutMs: number
  /** Called after each section is written. */
  readonly onSection?: (name: string, record: SectionRecord) => Effect.Effect<void>
}

/** Nodes hosting a group's replicas, the hinted leader's first. */
const candidatesOf = (
  group:
    | { readonly leaderHint: number; readonly replicas: ReadonlyArray<{ readonly id: number }> }
    | undefined,
): number[] => {
  if (group === undefined) return []
  const nodes = group.replicas.map((r) => nodeOfReplica(r.id as ReplicaId))
  return group.leaderHint === 0 ? nodes : [nodeOfReplica(group.leaderHint as ReplicaId), ...nodes]
}

const iso = (ms: number) => new Date(ms).toISOString()

/** Streams group `group` into the next section of `writer`; `keep` also gets its bytes. */
const section = (
  writer: BackupWriter,
  fetch: Omit<FetchOptions, "group" | "candidates">,
  group: number,
  candidates: number[],
  keep?: { readonly restart: () => void; readonly add: (chunk: Uint8Array) => void },
): Effect.Effect<SectionRecord, BackupError> =>
  Effect.gen(function* () {
    const fetched = yield* fetchGroup(
      { ...fetch, group, candidates },
      {
        begin: (h) =>
          Effect.zipRight(
            Effect.sync(() => keep?.restart()),
            writer.begin(h),
          ),
        write: (chunk) =>
          Effect.zipRight(
            Effect.sync(() => keep?.add(chunk)),
            writer.write(chunk),
          ),
      },
    )
    return { ...fetched, offset: writer.endSection() }
  })

/** See the module comment. Answers the manifest written. */
export const createBackup = (o: CreateOptions): Effect.Effect<Manifest, BackupError, Router | Bus> =>
  Effect.scoped(
    Effect.gen(function* () {
      const bus = yield* Bus
      const router = yield* Router
      const createdAt = yield* Clock.currentTimeMillis
      const view = yield* router
        .refresh()
        .pipe(Effect.mapError((e) => new BackupError({ message: `cannot read the shard map: ${e.message}` })))
      const everyNode = [...view.groups.values()].flatMap(candidatesOf)
      const fetch = {
        bus,
        cluster: o.cluster,
        timeoutMs: o.timeoutMs,
        ...(o.subjectPrefix === undefined ? {} : { subjectPrefix: o.subjectPrefix }),
      }
      const writer = yield* openWriter(o.out)
      // The metadata state is small: kept to learn the keyspaces and their shards.
      let metaChunks: Uint8Array[] = []
      const metadata = yield* section(
        writer,
        fetch,
        META_GROUP,
        [...candidatesOf(view.groups.get(META_GROUP)), ...everyNode],
        {
          restart: () => {
            metaChunks = []
          },
          add: (c) => metaChunks.push(Uint8Array.from(c)),
        },
      )
      yield* o.onSection?.("the metadata (group 0)", metadata) ?? Effect.void
      const state: ClusterState = yield* Effect.try({
        try: () => decodeState(Buffer.concat(metaChunks)),
        catch: (e) => new BackupError({ message: `the metadata state does not decode: ${String(e)}` }),
      })
      const groups = new Map(state.groups.map((g) => [g.id as number, g]))
      const keyspaces: KeyspaceRecord[] = []
      for (const ks of state.keyspaces) {
        const shards = []
        for (const [shard, range] of [...ks.shards].sort((a, b) => a.start - b.start).entries()) {
          const rec = yield* section(writer, fetch, range.group, [
            ...candidatesOf(groups.get(range.group)),
            ...everyNode,
          ])
          yield* o.onSection?.(`shard ${ks.name}/${shard} (group ${range.group})`, rec) ?? Effect.void
          shards.push({ shard, start: range.start, end: range.end, ...rec })
        }
        keyspaces.push({ name: ks.name, kind: ks.kind, replicationFactor: ks.replicationFactor, shards })
      }
      const manifest: Manifest = {
        format: BACKUP_FORMAT,
        cluster: state.cluster,
        createdAt: iso(createdAt),
        finishedAt: iso(yield* Clock.currentTimeMillis),
        metadata,
        keyspaces,
      }
      yield* writer.finish(manifest)
      return manifest
    }),
  )
