/**
 * Entity state through a backup and a restore, with whole nodes in process (StartNode over a
 * LevelDB data directory and an in-memory bus): a one-node cluster hosting an entity kind, its
 * entities updated, backed up, then the cluster gone and a new one restored from the file
 * (`restoreDataDir`) and started: every entity has its total, and the shard map is the old one.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as KvShardKind from "../../shards/kv/KvShardKind.js"
import { createBackup } from "../../src/cli/backup/BackupCreate.js"
import { restoreDataDir } from "../../src/cli/backup/RestoreDataDir.js"
import * as Entities from "../../src/client/Entities.js"
import * as Router from "../../src/client/Router.js"
import * as StartNode from "../../src/node/StartNode.js"
import { EntityShardKind } from "../../src/runtime/entity/index.js"
import { Bus, layerMemory as busLayerMemory } from "../../src/transport/Bus.js"
import * as MemoryBus from "../../src/transport/MemoryBus.js"
import * as MemoryNetwork from "../../src/transport/MemoryNetwork.js"
import { runCli } from "./support/RunCli.js"
import { Tally } from "./support/Tally.js"

const ENTITIES = 50

/** A node in this process on `dataDir`, and a router over its bus; for the scope's lifetime. */
const runNode = (cluster: string, dataDir: string, mode: "bootstrap" | "join") =>
  Effect.gen(function* () {
    const bus = yield* MemoryBus.make()
    const network = yield* MemoryNetwork.make({ seed: 7, cluster })
    yield* Layer.build(
      StartNode.layer({
        mode,
        dataDir,
        cluster,
        name: "n1",
        nats: { servers: [] },
        memory: { bus, network },
        kinds: [KvShardKind.make(), EntityShardKind.make(Tally)],
        http: false,
        clusterSettings: { replicationFactor: 1, metaTargetSize: 3 },
      }),
    )
    const clientBus = Context.get(yield* Layer.build(busLayerMemory(bus)), Bus)
    const router = Router.makeWith(clientBus, { cluster, deadline: 30_000 })
    return { clientBus, router }
  })

const totals = (router: Router.RouterService) =>
  Effect.forEach(
    Array.from({ length: ENTITIES }, (_, i) => i),
    (i) => Tally.client(`t-${i}`).Add({ n: 0 }),
    { concurrency: 10 },
  ).pipe(Effect.provide(Entities.layer.pipe(Layer.provide(Layer.succeed(Router.Router, router)))))

describe("backup and restore of entity state", () => {
  it.live(
    "every entity keeps its state in the restored cluster",
    () =>
      Effect.gen(function* () {
        const root = mkdtempSync(join(tmpdir(), "flotilla-backup-entities-"))
        const file = join(root, "tally.fbk")
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(root, { recursive: true, force: true })))
        const expected = Array.from({ length: ENTITIES }, (_, i) => (i * (i + 1)) / 2 + 3 * i)
        yield* Effect.scoped(
          Effect.gen(function* () {
            const { clientBus, router } = yield* runNode("orig", join(root, "a"), "bootstrap")
            const created = yield* router.meta({
              _tag: "CreateKeyspace",
              name: "tally",
              kind: "Tally",
              shards: 3,
              replicationFactor: 0,
            })
            expect(created._tag).toBe("KeyspaceCreated")
            yield* Effect.forEach(
              Array.from({ length: ENTITIES }, (_, i) => i),
              (i) =>
                Effect.forEach(
                  [i, 3 * i],
                  (n) => Tally.client(`t-${i}`).Add({ n: n === i ? (i * (i + 1)) / 2 : n }),
                  { discard: true },
                ),
              { concurrency: 10, discard: true },
            ).pipe(Effect.provide(Entities.layer.pipe(Layer.provide(Layer.succeed(Router.Router, router)))))
            expect(yield* totals(router)).toEqual(expected)
            const manifest = yield* createBackup({ out: file, cluster: "orig", timeoutMs: 20_000 }).pipe(
              Effect.provideService(Router.Router, router),
              Effect.provideService(Bus, clientBus),
            )
            expect(manifest.keyspaces.map((k) => [k.name, k.kind, k.shards.length])).toEqual([
              ["tally", "Tally", 3],
            ])
          }),
        )
        const restored = yield* restoreDataDir({ file, dataDir: join(root, "b"), cluster: "copy" })
        expect(restored).toEqual({ cluster: "copy", groups: 4, keyspaces: 1 })
        // The restored directory is a sound node directory: node 1, every group one voter.
        const inspected = yield* Effect.promise(() => runCli("inspect", join(root, "b"), "--json"))
        expect(inspected.failure).toBeUndefined()
        const doc = JSON.parse(inspected.out)
        expect(doc.ok).toBe(true)
        expect(doc.identity).toEqual({ cluster: "copy", node: 1, bootstrapped: true })
        expect(doc.groups.map((g: { group: number }) => g.group)).toEqual([0, 1, 2, 3])
        yield* Effect.scoped(
          Effect.gen(function* () {
            const { router } = yield* runNode("copy", join(root, "b"), "join")
            expect(yield* totals(router)).toEqual(expected)
            const view = yield* router.refresh()
            expect(view.keyspaces.get("tally")?.length).toBe(3)
          }),
        )
      }).pipe(Effect.scoped),
    60_000,
  )
})
