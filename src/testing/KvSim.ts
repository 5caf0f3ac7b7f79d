/**
 * The KV shard (shards/kv, decision 0091) in the runtime simulation (`RuntimeSim`): every
 * static group 1..shards hosts `KvShardKind` on every node, a metadata responder on the sim's
 * bus answers the shard map of one `kv` keyspace over those groups (as a managed cluster's
 * metadata leader would), and `client(i)` gives a real `KvRevClientService` (Router, sessions,
 * retries) on a bus connection of its own. The recipes (`KvRecipes`) and watches (`KvWatch`)
 * run unchanged on such a client: they only need a `KvRevClient` and Effect's clock, which is
 * the simulation's virtual clock inside `sim.run` / `sim.fork` / `forkClient`.
 *
 * ```ts
 * it.effect("txn under faults", () =>
 *   KvSim.run({ seed, shards: 2 }, (kv) =>
 *     Effect.gen(function* () {
 *       const c = yield* kv.client(1)
 *       yield* kv.sim.run(kv.withClientRandom(1, c.put("{a}x", "1")))
 *     }),
 *   ))
 * ```
 *
 * DETERMINISM: every fiber of the simulation draws from one fixed-seed `Random`
 * (RuntimeSimTime.ts); `forkClient(i, effect)` (or `withClientRandom(i, ...)`) gives client
 * `i` a generator of its own, seeded by the run's seed and `i`, so the seed varies the clients'
 * retry jitter and one client's draws do not shift another's. Failures are
 * reported by `RuntimeSim.run` with the seed and the one-line replay
 * (`FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts <file>`).
 */
import { Effect, Exit, type Fiber, Layer, Option, Random, Scope } from "effect"
import * as KvShardKind from "../../shards/kv/KvShardKind.js"
import * as KvSnapshot from "../../shards/kv/KvSnapshot.js"
import { KvStateMachine } from "../../shards/kv/KvStateMachine.js"
import { defaultRetention, type Version } from "../../shards/kv/Mvcc.js"
import { KvRevClient, type KvRevClientService, make as makeRevClient } from "../client/KvRevClient.js"
import * as Router from "../client/Router.js"
import type { ClusterState } from "../meta/ClusterState.js"
import * as MetaCommand from "../meta/MetaCommand.js"
import { MetaStateMachine } from "../meta/MetaStateMachine.js"
import { shardOfSlot } from "../meta/Slots.js"
import { GroupId } from "../raft/Ids.js"
import { slotOf } from "../runtime/entity/EntityId.js"
import { defaultLimits } from "../runtime/entity/Sessions.js"
import * as Bus from "../transport/Bus.js"
import { clusterSubjects } from "../transport/Subjects.js"
import * as RuntimeSim from "./RuntimeSim.js"
import { mixSeed } from "./RuntimeSimSeed.js"

/** How to build a simulated KV cluster. */
export interface KvSimOptions
  extends Omit<RuntimeSim.RuntimeSimOptions, "groups" | "members" | "kindOf" | "kinds"> {
  /** Shards of the `kv` keyspace: groups 1..shards, a replica on every node (default 1). */
  readonly shards?: number
  /** The KV shard kind's options (the same on every node). */
  readonly kv?: KvShardKind.KvShardKindOptions
  /** The clients' router: default deadline (default 10 s) and attempt timeout (default 1 s). */
  readonly router?: { readonly deadlineMs?: number; readonly attemptTimeoutMs?: number }
}

/** A replica's committed KV history, read from its state (a snapshot of it). */
export interface ReplicaHistory {
  readonly revision: number
  readonly compacted: number
  /** Every retained event, in (revision, sub) order. */
  readonly events: ReadonlyArray<Version>
  /** The shard-clock stamp (virtual ms) of every retained revision. */
  readonly times: ReadonlyMap<number, number>
}

/** A running simulated KV cluster. */
export interface KvSim {
  readonly sim: RuntimeSim.RuntimeSim
  readonly seed: number
  /** The groups of the `kv` keyspace (1..shards). */
  readonly shardGroups: ReadonlyArray<number>
  /** The group that holds `key` (by its hash slot). */
  readonly groupOf: (key: string | Uint8Array) => number
  /**
   * Client `i` (made once, then the same): its own bus connection, router and sessions. Call it
   * from the test's body, not inside the simulation (it drives time to connect).
   */
  readonly client: (i: number) => Effect.Effect<KvRevClientService>
  /** The `KvRevClient` layer of a client (for `KvRecipes`). */
  readonly layer: (client: KvRevClientService) => Layer.Layer<KvRevClient>
  /** `effect` with client `i`'s seeded `Random` (its retry jitter). */
  readonly withClientRandom: <A, E, R>(i: number, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Starts `effect` inside the simulation with client `i`'s seeded `Random`. */
  readonly forkClient: <A, E>(
    i: number,
    effect: Effect.Effect<A, E>,
  ) => Effect.Effect<Fiber.RuntimeFiber<A, E>>
  /** The group's KV state machine on node `n`, if the node runs and hosts it. */
  readonly stateMachine: (n: number, group: number) => Option.Option<KvStateMachine>
  /** The committed history of the group's replica on node `n` (none when down or missing). */
  readonly history: (n: number, group: number) => Option.Option<ReplicaHistory>
  /**
   * Waits until every running replica of each group (default: every shard) is at the same
   * revision, then checks that they hold the same events (a `SimCheckFailed` if not); the
   * history of each group.
   */
  readonly converged: (options?: {
    readonly groups?: ReadonlyArray<number>
    readonly timeoutMs?: number
  }) => Effect.Effect<Map<number, ReplicaHistory>, RuntimeSim.SimTimeout | RuntimeSim.SimCheckFailed>
}

const eventText = (v: Version) =>
  `${v.rev}.${v.sub} ${new TextDecoder().decode(v.key)}=${v.value === null ? "-" : new TextDecoder().decode(v.value)} c${v.create} v${v.version} l${v.lease}`

/** See `KvSim.converged`. */
const converge = (
  kv: Pick<KvSim, "sim" | "history" | "shardGroups">,
  options: { readonly groups?: ReadonlyArray<number>; readonly timeoutMs?: number } = {},
) =>
  Effect.gen(function* () {
    const groups = options.groups ?? kv.shardGroups
    const histories = () =>
      groups.map((g) => ({
        group: g,
        replicas: kv.sim.upNodes().map((n) => ({ node: n, history: kv.history(n, g) })),
      }))
    yield* kv.sim.until(
      "the KV replicas reach one revision",
      Effect.sync(() =>
        histories().every(({ replicas }) => {
          const revs = replicas.map((r) =>
            Option.match(r.history, { onNone: () => -1, onSome: (h) => h.revision }),
          )
          return revs.every((r) => r >= 0 && r === revs[0])
        }),
      ),
      { timeoutMs: options.timeoutMs ?? 60_000 },
    )
    const out = new Map<number, ReplicaHistory>()
    for (const { group, replicas } of histories()) {
      const [first, ...rest] = replicas.map((r) => ({ node: r.node, history: Option.getOrThrow(r.history) }))
      const text = first!.history.events.map(eventText).join("\n")
      for (const r of rest) {
        const other = r.history.events.map(eventText).join("\n")
        if (other !== text)
          return yield* new RuntimeSim.SimCheckFailed({
            message: `group ${group}: nodes ${first!.node} and ${r.node} are at revision ${first!.history.revision} with different events:\n${text}\n---\n${other}`,
          })
      }
      out.set(group, first!.history)
    }
    return out
  })

const must = (r: MetaCommand.MetaResponse, tag: string) => {
  if (r._tag !== tag) throw new Error(`KvSim: metadata command refused: ${JSON.stringify(r)}`)
}

/** Metadata state of `nodes` nodes and one `kv` keyspace of `shards` shards, replicated on every node. */
export const kvClusterState = (cluster: string, nodes: number, shards: number): ClusterState => {
  const sm = new MetaStateMachine()
  const base = { labels: {}, kinds: [KvShardKind.KIND], at: 1 }
  must(
    sm.applyCommand(MetaCommand.Bootstrap.make({ cluster, token: "n1", name: "n1", settings: {}, ...base })),
    "Bootstrapped",
  )
  for (let i = 2; i <= nodes; i++)
    must(
      sm.applyCommand(MetaCommand.RegisterNode.make({ token: `n${i}`, name: `n${i}`, ...base })),
      "NodeRegistered",
    )
  must(
    sm.applyCommand(
      MetaCommand.CreateKeyspace.make({
        name: "kv",
        kind: KvShardKind.KIND,
        shards,
        replicationFactor: nodes,
        at: 1,
      }),
    ),
    "KeyspaceCreated",
  )
  const state = sm.state()
  // The static groups of the simulation are 1..shards with a replica on every node: the map must say so.
  const groups = state.groups.filter((g) => g.id !== 0)
  if (groups.length !== shards || groups.some((g, i) => g.id !== i + 1 || g.replicas.length !== nodes))
    throw new Error(`KvSim: the metadata state does not place ${shards} shard(s) on groups 1..${shards}`)
  return state
}

/** One hash tag per shard group (`t<n>`, the first that lands in each), in group order. */
export const tagPerGroup = (kv: Pick<KvSim, "shardGroups" | "groupOf">): string[] => {
  const tags = new Map<number, string>()
  for (let n = 0; tags.size < kv.shardGroups.length; n++) {
    const g = kv.groupOf(`{t${n}}`)
    if (!tags.has(g)) tags.set(g, `t${n}`)
  }
  return kv.shardGroups.map((g) => tags.get(g)!)
}

const toBytes = (key: string | Uint8Array) => (typeof key === "string" ? new TextEncoder().encode(key) : key)

/** Builds the KV parts over a running simulation; they are closed with the current scope. */
const make = (sim: RuntimeSim.RuntimeSim, options: KvSimOptions): Effect.Effect<KvSim, never, Scope.Scope> =>
  Effect.gen(function* () {
    const shards = options.shards ?? 1
    const state = kvClusterState(sim.cluster, sim.nodeIds.length, shards)
    const keyspace = state.keyspaces.find((k) => k.name === "kv")!
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() =>
      sim.run(Scope.close(scope, Exit.void), { what: "closing the KV clients" }).pipe(Effect.ignore),
    )
    // The metadata responder: the real query answers of a metadata state machine.
    const meta = new MetaStateMachine(state)
    yield* sim
      .run(
        Effect.gen(function* () {
          const bus = yield* sim.bus.connect
          yield* Bus.serve(clusterSubjects(sim.cluster).meta, (msg) =>
            Effect.sync(() => meta.query(msg.data)),
          ).pipe(Effect.provideService(Bus.Bus, bus))
        }).pipe(Scope.extend(scope)),
        { what: "starting the metadata responder" },
      )
      .pipe(Effect.orDie)
    const clients = new Map<number, KvRevClientService>()
    const retention = { ...defaultRetention, ...options.kv?.retention }
    const limits = { ...defaultLimits, ...options.kv?.sessions }
    const withClientRandom = <A, E, R>(i: number, effect: Effect.Effect<A, E, R>) =>
      Effect.withRandom(effect, Random.make(mixSeed(sim.seed, 0xc1, i)))
    const stateMachine = (n: number, group: number): Option.Option<KvStateMachine> =>
      Option.flatMap(Effect.runSync(Effect.option(sim.node(n))), (node) =>
        Option.flatMap(node.localStateMachine(GroupId(group)), (sm) =>
          sm instanceof KvStateMachine ? Option.some(sm) : Option.none(),
        ),
      )
    const history = (n: number, group: number): Option.Option<ReplicaHistory> =>
      Option.map(stateMachine(n, group), (sm) => {
        const s = KvSnapshot.decode(sm.snapshot(), limits, retention)
        const events = [...s.store.allVersions()]
          .filter((v) => v.rev > s.store.compacted)
          .sort((a, b) => a.rev - b.rev || a.sub - b.sub)
        return {
          revision: s.store.revision,
          compacted: s.store.compacted,
          events,
          times: new Map(s.store.revisionTimes().map(([r, t]) => [r, t] as const)),
        }
      })
    const shardGroups = keyspace.shards.map((s) => s.group)
    return {
      sim,
      seed: sim.seed,
      shardGroups,
      groupOf: (key) => shardOfSlot(keyspace, slotOf(toBytes(key)))!.group,
      client: (i) =>
        Effect.suspend(() => {
          const known = clients.get(i)
          if (known !== undefined) return Effect.succeed(known)
          return sim.run(Scope.extend(sim.bus.connect, scope), { what: `connecting client ${i}` }).pipe(
            Effect.orDie,
            Effect.map((bus) => {
              const router = Router.makeWith(bus, {
                cluster: sim.cluster,
                deadline: `${options.router?.deadlineMs ?? 10_000} millis`,
                attemptTimeout: `${options.router?.attemptTimeoutMs ?? 1_000} millis`,
                staleReadsFromReplicas: false,
              })
              const client = makeRevClient(router)
              clients.set(i, client)
              return client
            }),
          )
        }),
      layer: (client) => Layer.succeed(KvRevClient, client),
      withClientRandom,
      forkClient: (i, effect) => sim.fork(withClientRandom(i, effect)),
      stateMachine,
      converged: (o) => converge({ sim, history, shardGroups }, o),
      history,
    } satisfies KvSim
  })

/**
 * Runs `body` against a new simulated KV cluster (`RuntimeSim.run`: a failure names the seed,
 * the virtual time, the replay line and the last log lines).
 */
export const run = <A, E>(
  options: KvSimOptions,
  body: (kv: KvSim) => Effect.Effect<A, E, Scope.Scope>,
): Effect.Effect<A, RuntimeSim.RuntimeSimFailure> => {
  const shards = options.shards ?? 1
  if (!Number.isInteger(shards) || shards < 1)
    throw new RangeError(`KvSim: shards must be a whole number of at least 1, not ${shards}`)
  const kind = KvShardKind.make(options.kv)
  // `kinds` as well as `kindOf`: a node runs the leader tasks (lease expiry) of listed kinds only.
  return RuntimeSim.run({ ...options, groups: shards, kindOf: () => kind, kinds: [kind] }, (sim) =>
    Effect.scoped(Effect.flatMap(make(sim, options), body)),
  )
}
