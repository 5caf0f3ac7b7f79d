/**
 * The flags every client command (`kv`, `status`, `bench`, `keyspace`) shares, and the router
 * they build: where NATS is, how to authenticate (ConnectionFlags.ts), which cluster, how long
 * to wait. The defaults reach the cluster `flotilla dev`
 * runs on this machine (`nats://127.0.0.1:4222`, cluster `default`).
 */
import { Options } from "@effect/cli"
import { Effect, Layer, Option } from "effect"
import type * as Router from "../client/Router.js"
import type { Bus } from "../transport/Bus.js"
import type { NatsConnection } from "../transport/index.js"
import { type ConnectionFlags, connectionFlags, connectionOptions } from "./ConnectionFlags.js"
import { integerIn } from "./IntegerFlags.js"

/** The default NATS URL of client commands (where `flotilla dev` puts its nats-server). */
export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
/** The default cluster name (`flotilla start` and `flotilla dev` use it too). */
export const DEFAULT_CLUSTER = "default"

export const nats = Options.text("nats").pipe(
  Options.withDescription("NATS server URL(s), comma separated"),
  Options.withDefault(DEFAULT_NATS_URL),
)
export const cluster = Options.text("cluster").pipe(
  Options.withDescription("cluster name"),
  Options.withDefault(DEFAULT_CLUSTER),
)
export const timeoutMs = integerIn("timeout-ms", 1, 3_600_000).pipe(
  Options.withDescription("give up on a request after this many milliseconds"),
  Options.withDefault(10_000),
)

/** The flags as one record (spread into a command's config), credentials and TLS included. */
export const clientFlags = { nats, cluster, timeoutMs, ...connectionFlags }

/** The parsed flags. */
export interface ClientFlags extends Partial<ConnectionFlags> {
  readonly nats: string
  readonly cluster: string
  readonly timeoutMs: number
}

// The client modules, imported when a command runs so that `--help` stays fast.
const lazyClient = Effect.promise(() =>
  Promise.all([
    import("../client/Router.js"),
    import("../transport/Bus.js"),
    import("../transport/index.js"),
  ]),
)

const NO_CREDENTIAL: ConnectionFlags = {
  user: Option.none(),
  password: Option.none(),
  token: Option.none(),
  creds: Option.none(),
  nkey: Option.none(),
  tlscert: Option.none(),
  tlskey: Option.none(),
  tlsca: Option.none(),
  inboxPrefix: Option.none(),
}

/** The NATS connection and bus of a client command (dies on inconsistent credential flags). */
export const busLayer = (flags: ClientFlags): Layer.Layer<Bus, NatsConnection.NatsConnectionError> => {
  const auth = connectionOptions({ ...NO_CREDENTIAL, ...flags })
  if (typeof auth === "string") return Layer.die(new Error(auth))
  return Layer.unwrapEffect(
    Effect.map(lazyClient, ([, Bus, { NatsConnection }]) =>
      Bus.layerNats.pipe(
        Layer.provideMerge(
          NatsConnection.layer({
            ...auth,
            servers: flags.nats.split(","),
            name: "flotilla-cli",
            startupTimeout: "5 seconds",
          }),
        ),
      ),
    ),
  )
}

/** The router of a client command, over its own bus (both in the context). */
export const routerLayer = (
  flags: ClientFlags,
): Layer.Layer<Router.Router | Bus, NatsConnection.NatsConnectionError> =>
  Layer.unwrapEffect(
    Effect.map(lazyClient, ([Router]) =>
      Router.layer({ cluster: flags.cluster, deadline: flags.timeoutMs }).pipe(
        Layer.provideMerge(busLayer(flags)),
      ),
    ),
  )
