/**
 * Fences between one incarnation of a simulated node and the outside world, for `RuntimeSim`.
 *
 * A real process that dies stops talking at once: nothing it computes afterwards reaches a
 * peer, a client or its disk. A `NodeLive` torn down by closing its scope would still finish
 * its round, answer callers with `NodeStopping` and send what it had. So each incarnation
 * talks through a `Fence`: once `dead`, every frame and bus message it sends is lost and
 * every one sent to it is dropped, whatever its fibers still do while they are interrupted.
 * (Its disk is fenced by `MemoryDisk.crash()`, which makes its store refuse every call.)
 *
 * `cut` is the softer state of a node that lost its NATS connection (`RuntimeSim.isolate`):
 * its bus messages are lost both ways until healed. Its Raft frames are cut by the
 * `MemoryNetwork` itself.
 */
import { Duration, Effect, Layer, Option, Stream } from "effect"
import type { NodeId } from "../raft/Ids.js"
import { LogStore } from "../storage/LogStore.js"
import * as MemoryLogStore from "../storage/MemoryLogStore.js"
import {
  Bus,
  type BusMessage,
  type BusService,
  type BusSubscription,
  RequestTimeout,
} from "../transport/Bus.js"
import type { MemoryBus } from "../transport/MemoryBus.js"
import type { MemoryNetwork } from "../transport/MemoryNetwork.js"
import * as Transport from "../transport/Transport.js"

/** The state of one incarnation's connections. */
export class Fence {
  /** The incarnation crashed: nothing goes in or out, ever again. */
  dead = false
  /** The node is cut off the bus (isolated) until healed. */
  cut = false
  /** Frames and bus messages lost at this fence. */
  dropped = 0

  get open(): boolean {
    return !this.dead && !this.cut
  }
}

/** `network` as seen by one incarnation of `node`: nothing passes once the fence is dead. */
export const fencedNetwork = (network: MemoryNetwork, fence: Fence): MemoryNetwork => ({
  ...network,
  unsafePublish: (from, to, kind, payload) => {
    if (!fence.dead) return network.unsafePublish(from, to, kind, payload)
    fence.dropped++
    return true
  },
  publish: (from, to, kind, payload) =>
    Effect.sync(() => {
      if (!fence.dead) return network.unsafePublish(from, to, kind, payload)
      fence.dropped++
      return true
    }),
  attach: (node: NodeId, receiver) =>
    network.attach(node, (kind, payload) => {
      if (!fence.dead) receiver(kind, payload)
      else fence.dropped++
    }),
})

const fencedMessage = (m: BusMessage, fence: Fence): BusMessage => ({
  ...m,
  respond: (data) =>
    fence.open
      ? m.respond(data)
      : Effect.sync(() => {
          fence.dropped++
          return false
        }),
})

const fencedSubscription = (sub: BusSubscription, fence: Fence): BusSubscription => {
  const pass = (m: BusMessage): Option.Option<BusMessage> => {
    if (fence.open) return Option.some(fencedMessage(m, fence))
    fence.dropped++
    return Option.none()
  }
  const take: Effect.Effect<BusMessage> = Effect.flatMap(sub.take, (m) =>
    Option.match(pass(m), { onNone: () => take, onSome: Effect.succeed }),
  )
  return { ...sub, take, messages: Stream.filterMap(sub.messages, pass) }
}

/** `bus` as seen by one incarnation: its messages are lost while the fence is not open. */
export const fencedBus = (bus: BusService, fence: Fence): BusService => ({
  maxPayload: bus.maxPayload,
  publish: (subject, data) =>
    fence.open
      ? bus.publish(subject, data)
      : Effect.sync(() => {
          fence.dropped++
        }),
  request: (subject, data, options) =>
    Effect.suspend(() => {
      if (fence.open) return bus.request(subject, data, options)
      // A disconnected client's request is lost; the caller finds out by its timeout.
      fence.dropped++
      return Effect.sleep(options.timeout).pipe(
        Effect.zipRight(
          Effect.fail(
            new RequestTimeout({
              subject,
              timeoutMillis: Duration.toMillis(Duration.decode(options.timeout)),
              message: `no reply on ${subject}: this node is cut off the bus`,
            }),
          ),
        ),
      )
    }),
  subscribe: (subject, options) =>
    Effect.map(bus.subscribe(subject, options), (sub) => fencedSubscription(sub, fence)),
})

/**
 * What one incarnation of node `id` runs on: a store on its disk, the network and a bus
 * connection, both behind `fence`. Each is a layer of its own, for the node's layer to place.
 */
export const fencedNodeServices = (options: {
  readonly id: NodeId
  readonly disk: MemoryLogStore.MemoryDisk
  readonly network: MemoryNetwork
  readonly bus: MemoryBus
  readonly fence: Fence
}) => ({
  store: Layer.scoped(LogStore, Effect.orDie(MemoryLogStore.make(options.disk))),
  transport: Transport.layerMemory(fencedNetwork(options.network, options.fence), options.id),
  bus: Layer.scoped(
    Bus,
    Effect.map(options.bus.connect, (b) => fencedBus(b, options.fence)),
  ),
})
