/**
 * The nodes of a simulation of real nodes (`RuntimeSim`, `PlacementSim`), across their lives.
 *
 * A node is a slot: its id, its `MemoryDisk` (which outlives every incarnation) and whether it
 * is cut off the network. Each start is a new incarnation: a scope forked from the
 * simulation's, a new `Fence` (RuntimeFence.ts), and the node's layer built over a store on
 * its disk and the shared network and bus, both behind the fence. What the node runs is the
 * simulation's business (`incarnation`); this module gives the faults:
 *
 * - `crash(n)`: from this instant nothing of the incarnation reaches the world or its disk
 *   (the fence dies, `disk.crash()`), then its fibers are interrupted with its scope;
 * - `restart(n)`: a new incarnation on the same disk;
 * - `isolate(n)` / `heal`: the node loses its NATS connection (Raft frames and bus messages,
 *   both ways) until healed;
 * - `skewClock(n, skew)`: the node's clock (SimClock.ts, kept by the slot across restarts) gets
 *   an offset and a drift; every incarnation is built on it, so all of the node's fibers read
 *   and sleep on it.
 *
 * A loop that dies in a running incarnation is recorded (`loopDeaths`); with
 * `loopDeathEndsNode` it also ends the incarnation at once, as `crash` does: the process exit
 * of decision 0071.
 */
import { Context, Data, Effect, ExecutionStrategy, Exit, type Fiber, Layer, Scope } from "effect"
import type { NodeId } from "../raft/Ids.js"
import { Node, type NodeService } from "../runtime/Node.js"
import { LoopExit } from "../runtime/Supervisor.js"
import type { LogStore } from "../storage/LogStore.js"
import { MemoryDisk } from "../storage/MemoryLogStore.js"
import type { Bus } from "../transport/Bus.js"
import type { MemoryBus } from "../transport/MemoryBus.js"
import type { MemoryNetwork } from "../transport/MemoryNetwork.js"
import type { Transport } from "../transport/Transport.js"
import { Fence, fencedNodeServices } from "./RuntimeFence.js"
import type { SimDriver, SimTimeout } from "./RuntimeSimDriver.js"
import { type ClockSkew, SimClocks, type SkewedClock } from "./SimClock.js"

/** The node is crashed (or not started). */
export class NodeDown extends Data.TaggedError("NodeDown")<{
  readonly node: number
  readonly message: string
}> {}

/** The node is running (it cannot be restarted). */
export class NodeUp extends Data.TaggedError("NodeUp")<{ readonly node: number; readonly message: string }> {}

/** One life of a node. */
export interface Incarnation {
  readonly node: NodeService
  readonly scope: Scope.CloseableScope
  readonly fence: Fence
}

/** A node across its incarnations. */
export interface SimSlot {
  readonly id: NodeId
  readonly disk: MemoryDisk
  /** The running incarnation, if any. */
  current: Incarnation | undefined
  /** Incarnations started so far. */
  starts: number
  isolated: boolean
  /** The teardown of an incarnation ended by a dead loop, while it runs (`loopDeathEndsNode`). */
  exiting?: Fiber.RuntimeFiber<void>
}

/** A new slot, never started. */
export const newSlot = (id: NodeId): SimSlot => ({
  id,
  disk: new MemoryDisk(`node-${id}`),
  current: undefined,
  starts: 0,
  isolated: false,
})

/** What a node runs on: a store on its disk, the network and a bus connection, behind its fence. */
export interface FencedServices {
  readonly store: Layer.Layer<LogStore>
  readonly transport: Layer.Layer<Transport>
  readonly bus: Layer.Layer<Bus>
}

/** How the simulation makes its nodes. */
export interface SimNodesOptions<S extends SimSlot, E> {
  readonly driver: SimDriver
  readonly network: MemoryNetwork
  readonly bus: MemoryBus
  /** The layer of one incarnation of `slot` (`slot.starts` counts it already). */
  readonly incarnation: (slot: S, services: FencedServices) => Layer.Layer<Node, E>
  /** Runs once an incarnation is built, before `start` returns (RuntimeSim: static groups). */
  readonly started?: (slot: S, node: NodeService) => Effect.Effect<void>
  /** A dead loop ends its incarnation, like `crash` (see the module comment; default false). */
  readonly loopDeathEndsNode?: boolean
}

/** See the module comment. */
export interface SimNodes<S extends SimSlot, E> {
  /**
   * `node <n>: flotilla: loop <name> died: <cause>` for every loop that died in a running
   * incarnation (a real process would have exited); tests take the ones they expect.
   */
  readonly loopDeaths: string[]
  /** Every slot, in the order added (node `n` is the `n`-th). */
  readonly slots: ReadonlyArray<S>
  readonly add: (slot: S) => void
  /** The slot of node `n`; a defect when there is none. */
  readonly slotOf: (n: number) => S
  readonly isUp: (n: number) => boolean
  readonly upNodes: () => NodeId[]
  /** The running node's service. */
  readonly node: (n: number) => Effect.Effect<NodeService, NodeDown>
  /** Starts a new incarnation of `slot` (inside the simulation; `what` names it on a timeout). */
  readonly start: (slot: S, what: string) => Effect.Effect<void, E | SimTimeout>
  readonly crash: (n: number) => Effect.Effect<void, NodeDown>
  readonly restart: (n: number) => Effect.Effect<void, NodeUp | E | SimTimeout>
  readonly isolate: (n: number) => Effect.Effect<void>
  readonly heal: Effect.Effect<void>
  /** Node `n`'s clock (SimClock.ts): its incarnations run on it. */
  readonly clockOf: (n: number) => SkewedClock
  /** Sets node `n`'s clock offset and/or drift from now on (logged; a defect when out of range). */
  readonly skewClock: (n: number, skew: ClockSkew) => Effect.Effect<void>
}

/**
 * The incarnation behind `fence` ends at once, as a process that exits: nothing more of it
 * reaches the world or its disk; its scope closes on a fiber of its own (the caller may be one
 * of the incarnation's fibers). An incarnation still being built is ended by `start`.
 */
const exitProcess = (driver: SimDriver, slot: SimSlot, fence: Fence) => {
  fence.dead = true
  slot.disk.crash()
  const inc = slot.current
  if (inc?.fence !== fence) return
  slot.current = undefined
  slot.exiting = driver.fork(Scope.close(inc.scope, Exit.void))
}

/** Builds one incarnation of `slot` in a scope of its own (closed again if the build fails). */
const incarnate = <S extends SimSlot, E>(
  options: SimNodesOptions<S, E>,
  slot: S,
  loopDeaths: string[],
  clock: SkewedClock,
) =>
  Effect.gen(function* () {
    slot.starts++
    const scope = yield* Scope.fork(options.driver.scope, ExecutionStrategy.sequential)
    const fence = new Fence()
    fence.cut = slot.isolated
    const { network, bus } = options
    const services = fencedNodeServices({ id: slot.id, disk: slot.disk, network, bus, fence })
    // A dead loop would end the process: here it is recorded (the test decides what follows),
    // except in a crashed incarnation, whose loops die of the crash.
    const exit = Layer.succeed(LoopExit, {
      loopDied: (_name, line) =>
        Effect.sync(() => {
          if (fence.dead) return
          loopDeaths.push(`node ${slot.id}: ${line}`)
          options.driver.record(`t=${options.driver.now()} [node ${slot.id}] ${line}`)
          if (options.loopDeathEndsNode === true) exitProcess(options.driver, slot, fence)
        }),
    })
    const layer = Layer.provide(options.incarnation(slot, services), exit)
    const built = yield* Effect.exit(Layer.buildWithScope(layer, scope))
    if (Exit.isFailure(built)) {
      yield* Scope.close(scope, built)
      return yield* Effect.failCause(built.cause)
    }
    const node = Context.get(built.value, Node)
    if (options.started !== undefined) yield* options.started(slot, node)
    return { node, scope, fence } satisfies Incarnation
  }).pipe(
    Effect.annotateLogs("node", slot.id),
    // On the node's own clock: every fiber the incarnation forks inherits it.
    Effect.withClock(clock),
  )

/** See the module comment. */
export const make = <S extends SimSlot, E>(options: SimNodesOptions<S, E>): SimNodes<S, E> => {
  const { driver, network } = options
  const slots: S[] = []
  const loopDeaths: string[] = []
  const clocks = new SimClocks(driver.time.clock)
  const slotOf = (n: number): S => {
    const s = slots[n - 1]
    if (s === undefined) throw new RangeError(`no node ${n} in this simulation (nodes 1..${slots.length})`)
    return s
  }
  const isUp = (n: number) => slotOf(n).current !== undefined
  // A new incarnation waits until the one that exited is torn down (its network handle released).
  const exited = (slot: S) =>
    Effect.suspend(() => {
      const teardown = slot.exiting
      slot.exiting = undefined
      return teardown === undefined
        ? Effect.void
        : driver.join(teardown, { what: `tearing down node ${slot.id}` })
    })
  const start = (slot: S, what: string) =>
    Effect.gen(function* () {
      yield* exited(slot)
      const inc = yield* driver.run(incarnate(options, slot, loopDeaths, clocks.of(slot.id)), { what })
      // A loop died while it was being built: the process exited before it served.
      if (inc.fence.dead)
        return yield* driver.run(Scope.close(inc.scope, Exit.void), { what: `tearing down node ${slot.id}` })
      slot.current = inc
    })
  return {
    slots,
    loopDeaths,
    add: (slot) => {
      if (slot.id !== slots.length + 1)
        throw new RangeError(`node ${slot.id} added as node ${slots.length + 1}`)
      slots.push(slot)
    },
    slotOf,
    isUp,
    upNodes: () => slots.filter((s) => s.current !== undefined).map((s) => s.id),
    node: (n) =>
      Effect.suspend(() => {
        const cur = slotOf(n).current
        return cur === undefined
          ? Effect.fail(new NodeDown({ node: n, message: `node ${n} is down` }))
          : Effect.succeed(cur.node)
      }),
    start,
    crash: (n) =>
      Effect.gen(function* () {
        const slot = slotOf(n)
        const inc = slot.current
        if (inc === undefined) return yield* new NodeDown({ node: n, message: `node ${n} is down already` })
        // From this instant nothing of the old incarnation reaches the world or its disk.
        inc.fence.dead = true
        slot.disk.crash()
        slot.current = undefined
        yield* driver
          .run(Scope.close(inc.scope, Exit.void), { what: `tearing down crashed node ${n}` })
          .pipe(Effect.orDie)
      }),
    restart: (n) =>
      Effect.suspend((): Effect.Effect<void, NodeUp | E | SimTimeout> => {
        const slot = slotOf(n)
        if (slot.current !== undefined)
          return Effect.fail(new NodeUp({ node: n, message: `node ${n} is running` }))
        return start(slot, `restarting node ${n}`)
      }),
    isolate: (n) =>
      Effect.suspend(() => {
        const slot = slotOf(n)
        slot.isolated = true
        if (slot.current !== undefined) slot.current.fence.cut = true
        return network.isolate(slot.id)
      }),
    heal: Effect.suspend(() => {
      for (const slot of slots) {
        slot.isolated = false
        if (slot.current !== undefined) slot.current.fence.cut = false
      }
      return network.heal
    }),
    clockOf: (n) => clocks.of(slotOf(n).id),
    skewClock: (n, skew) =>
      Effect.sync(() => {
        clocks.skew(slotOf(n).id, skew)
        driver.record(`t=${driver.now()} CLOCK ${clocks.describe(n)}`)
      }),
  }
}
