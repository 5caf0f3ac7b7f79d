/**
 * The `EntitySender` of a real cluster: the typed entity clients of docs/entities.md, over
 * the routing core.
 *
 *   const program = Effect.gen(function* () {
 *     const n = yield* Counter.client("user-42").Add({ by: 1 })
 *   })
 *   program.pipe(Effect.provide(Entities.layerNats({ cluster: "dev", nats: { servers: "127.0.0.1:4222" } })))
 *
 * Each call goes to the shard owning the entity's slot in the kind's keyspace (by default the
 * kind's name in lower case, `Router.RouterOptions.keyspaceOf`), commands exactly once through
 * the shard's session. A call that gives up fails with `EntityUnavailable`; its `reason` says
 * whether a command may have been applied (a `Timeout`) or not (`Unavailable`). The deadline of
 * calls is the router's, or `Entities.withDeadline(d)(effect)` for the calls inside `effect`.
 */
import { Effect, Layer } from "effect"
import { EntitySender, EntityUnavailable } from "../runtime/entity/EntityClient.js"
import type { Bus } from "../transport/Bus.js"
import type { NatsConnectionError } from "../transport/NatsConnection.js"
import * as Router from "./Router.js"

/** The sender over a router. */
export const make = (router: Router.RouterService): EntitySender["Type"] => ({
  send: (call) =>
    Effect.mapError(
      router.call(call),
      (e) =>
        new EntityUnavailable({
          kind: call.kind,
          operation: call.operation,
          reason: e._tag === "Timeout" ? `${e.message} (it may have been applied once)` : e.message,
        }),
    ),
})

/** The sender over the `Router` in context (share one router with `KvClient.layer`). */
export const layer: Layer.Layer<EntitySender, never, Router.Router> = Layer.effect(
  EntitySender,
  Effect.map(Router.Router, make),
)

/** The sender with its own router over the `Bus` in context. */
export const layerBus = (options: Router.RouterOptions): Layer.Layer<EntitySender, never, Bus> =>
  layer.pipe(Layer.provide(Router.layer(options)))

/** The sender with its own NATS connection. */
export const layerNats = (
  options: Router.NatsRouterOptions,
): Layer.Layer<EntitySender, NatsConnectionError> => layer.pipe(Layer.provide(Router.layerNats(options)))

/** Runs `effect` with `deadline` as the deadline of every entity call inside it. */
export const withDeadline = Router.withDeadline
