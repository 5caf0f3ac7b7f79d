/**
 * The `LogStore` service over a `StoreCore`: every operation as an `Effect` failing with the
 * store's tagged errors, and the core's lifetime tied to a `Scope`.
 *
 * The core and back ends are promise-based (LevelDB is), and may only throw the tagged
 * errors of `StoreErrors.ts`; anything else they throw is a bug and becomes a defect.
 */
import { Effect, Option, type Scope } from "effect"
import type { GroupId } from "../../raft/Ids.js"
import type {
  GroupUpdate,
  LoadedGroup,
  LogStoreService,
  StoreStats,
  WriteOptions,
} from "../LogStoreService.js"
import {
  IndexCompacted,
  IndexUnavailable,
  InvalidUpdate,
  isGroupError,
  isStoreError,
  type StoreError,
  type WriteError,
} from "../StoreErrors.js"
import type { Backend } from "./Backend.js"
import type { FaultPlan } from "./FaultPlan.js"
import { StoreCore } from "./StoreCore.js"

type Known = StoreError | WriteError | IndexCompacted | IndexUnavailable

const isKnown = (e: unknown): e is Known =>
  isStoreError(e) ||
  isGroupError(e) ||
  e instanceof InvalidUpdate ||
  e instanceof IndexCompacted ||
  e instanceof IndexUnavailable

/** Runs `f`, failing with its tagged error, or dying on anything else. */
const attempt = <A, E>(f: () => Promise<A> | A): Effect.Effect<A, E> =>
  Effect.async<A, E>((resume) => {
    let result: Promise<A> | A
    try {
      result = f()
    } catch (e) {
      resume(isKnown(e) ? Effect.fail(e as E) : Effect.die(e))
      return
    }
    if (result instanceof Promise)
      result.then(
        (a) => resume(Effect.succeed(a)),
        (e: unknown) => resume(isKnown(e) ? Effect.fail(e as E) : Effect.die(e)),
      )
    else resume(Effect.succeed(result))
  })

/** Builds the service of an opened store core. */
export const serviceOf = <B>(core: StoreCore<B>): LogStoreService => {
  const write = (updates: ReadonlyArray<GroupUpdate>, options?: WriteOptions) =>
    Effect.async<void, WriteError>((resume) => {
      core.submit(
        updates,
        (error) => resume(error === undefined ? Effect.void : Effect.fail(error)),
        options?.sync ?? true,
      )
    })
  return {
    location: core.location,
    write,
    groups: attempt(() => core.groups()),
    load: (groupId) => attempt<LoadedGroup, never>(() => core.load(groupId)),
    hardState: (groupId) => attempt(() => core.meta(groupId).hardState),
    entries: (groupId, lo, hi, maxBytes) =>
      attempt(() => core.entries(groupId, lo, hi, maxBytes ?? Infinity)),
    term: (groupId, index) => attempt(() => core.term(groupId, index)),
    firstIndex: (groupId) => attempt(() => core.meta(groupId).floor.index + 1),
    lastIndex: (groupId) => attempt(() => core.meta(groupId).lastIndex),
    saveSnapshot: (groupId, snapshot) => write([{ groupId, savedSnapshot: snapshot }]),
    loadSnapshot: (groupId) => attempt(async () => Option.fromNullable(await core.snapshot(groupId))),
    compact: (groupId, index) => write([{ groupId, compactTo: index }]),
    removeGroup: (groupId: GroupId) =>
      Effect.async<void, StoreError>((resume) => {
        core.remove(groupId, (error) =>
          resume(
            error === undefined
              ? Effect.void
              : isStoreError(error)
                ? Effect.fail(error)
                : Effect.die(new Error(`removeGroup failed unexpectedly: ${error.message}`)),
          ),
        )
      }),
    stats: Effect.sync((): StoreStats => core.stats()),
  }
}

/**
 * Opens a back end with `open`, wraps it in a store core closed when the scope closes, and returns
 * its service. `coalesce = false` disables group commit (baseline measurements only).
 */
export const scopedService = <B, E>(
  open: Effect.Effect<Backend<B>, E>,
  faults: FaultPlan | undefined,
  coalesce = true,
): Effect.Effect<LogStoreService, E, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.map(open, (backend) => new StoreCore(backend, faults, coalesce)),
    (core) => Effect.promise(() => core.close().catch(() => undefined)),
  ).pipe(Effect.map(serviceOf))
