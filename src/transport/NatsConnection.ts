/**
 * One NATS connection per node (`@nats-io/transport-node`), shared by the `Transport` and the
 * `Bus`, with the policy Flotilla needs:
 *
 * - RECONNECT FOREVER: `maxReconnectAttempts: -1` (the client's default gives up after 10
 *   attempts, about 20 s), with a backoff that grows with the time spent disconnected (from
 *   `reconnectWait` up to `reconnectWaitMax`) plus random jitter, and no abort on repeated
 *   authorization errors (`ignoreAuthErrorAbort`), so a node rides out a bus restart.
 * - At startup a refused or unreachable server is retried with exponential backoff and jitter
 *   for `startupTimeout` (a warning after 1 s and every 5 s says so), then reported as
 *   `NatsConnectionRefused`; a bad URL, failed
 *   authentication, TLS misconfiguration or unreadable credentials fail at once with their
 *   own tagged error.
 * - The status (connected / disconnected / reconnecting / closed) is observable as an Effect
 *   and a Stream; `isConnected()` reads it synchronously for hot paths.
 * - The scope closes the connection with `drain()` (bounded by `drainTimeout`, then `close()`).
 */
import { readFile } from "node:fs/promises"
import {
  connect,
  credsAuthenticator,
  type NodeConnectionOptions,
  nkeyAuthenticator,
  type NatsConnection as RawNatsConnection,
  type Status,
} from "@nats-io/transport-node"
import {
  Clock,
  Context,
  Data,
  Duration,
  Effect,
  Fiber,
  Layer,
  Queue,
  Schedule,
  type Scope,
  type Stream,
  SubscriptionRef,
} from "effect"

/** The connection's state as the node sees it. */
export type ConnectionStatus = "connected" | "disconnected" | "reconnecting" | "closed"

/** TLS settings passed through to the client (files are read by the client). */
export interface NatsTlsOptions {
  readonly caFile?: string
  readonly certFile?: string
  readonly keyFile?: string
  readonly ca?: string
  readonly cert?: string
  readonly key?: string
  /** The server is configured with `handshake_first`. */
  readonly handshakeFirst?: boolean
  /** Default true; false accepts any server certificate (development only). */
  readonly rejectUnauthorized?: boolean
}

/** How to reach and authenticate to NATS. */
export interface NatsConnectionOptions {
  /** `host:port`, `nats://host:port` or `tls://host:port`; one or several. */
  readonly servers: string | ReadonlyArray<string>
  /** The client name the server shows in its monitoring pages. */
  readonly name?: string
  readonly user?: string
  readonly pass?: string
  readonly token?: string
  /** Path of a NATS `.creds` file (JWT + nkey seed). */
  readonly credentials?: string
  /** Path of a file holding an nkey seed (`SU...`), for a server that lists the user's public nkey. */
  readonly nkeyFile?: string
  /**
   * Prefix of this connection's reply subjects (default `_INBOX`). With per-user inboxes
   * (`_INBOX.<user>`, as `flotilla security init` configures), a user can subscribe only to
   * its own replies, not to other users' (docs/security.md).
   */
  readonly inboxPrefix?: string
  /** Require TLS; `true` uses the system's trust store. */
  readonly tls?: NatsTlsOptions | true
  /** How long to keep retrying a refused or unreachable server at startup (default 30 s). */
  readonly startupTimeout?: Duration.DurationInput
  /** First reconnect wait (default 100 ms). */
  readonly reconnectWait?: Duration.DurationInput
  /** Longest reconnect wait (default 400 ms: docs/decisions/0132). */
  readonly reconnectWaitMax?: Duration.DurationInput
  /** Upper bound of the random jitter added to every reconnect wait (default 100 ms). */
  readonly reconnectJitter?: Duration.DurationInput
  /** Client ping interval: how fast a dead server is noticed (default 10 s). */
  readonly pingInterval?: Duration.DurationInput
  /** How long closing waits for `drain()` before closing outright (default 5 s). */
  readonly drainTimeout?: Duration.DurationInput
}

/** A server address that is not a NATS URL. */
export class NatsInvalidUrl extends Data.TaggedError("NatsInvalidUrl")<{
  readonly server: string
  readonly message: string
}> {}

/** No server accepted a connection within `startupTimeout`. */
export class NatsConnectionRefused extends Data.TaggedError("NatsConnectionRefused")<{
  readonly servers: ReadonlyArray<string>
  readonly attempts: number
  readonly message: string
}> {}

/** The server refused the credentials (user/password, token or creds). */
export class NatsAuthFailed extends Data.TaggedError("NatsAuthFailed")<{
  readonly servers: ReadonlyArray<string>
  readonly message: string
}> {}

/** TLS could not be established: missing files, untrusted certificate, or a TLS mismatch. */
export class NatsTlsError extends Data.TaggedError("NatsTlsError")<{
  readonly servers: ReadonlyArray<string>
  readonly message: string
}> {}

/** The `.creds` file could not be read. */
export class NatsCredentialsError extends Data.TaggedError("NatsCredentialsError")<{
  readonly path: string
  readonly message: string
}> {}

/** Every way opening the connection can fail. */
export type NatsConnectionError =
  | NatsInvalidUrl
  | NatsConnectionRefused
  | NatsAuthFailed
  | NatsTlsError
  | NatsCredentialsError

/** The connection service. */
export interface NatsConnectionService {
  /** The underlying client, for what this service does not wrap. */
  readonly connection: RawNatsConnection
  /** The server list the connection was opened with. */
  readonly servers: ReadonlyArray<string>
  /** The options handed to `connect` (to check the reconnect policy). */
  readonly clientOptions: NodeConnectionOptions
  /** The status now. */
  readonly status: Effect.Effect<ConnectionStatus>
  /** The status now, then every change. */
  readonly statusChanges: Stream.Stream<ConnectionStatus>
  /** Synchronous status check for hot paths. */
  readonly isConnected: () => boolean
  /** The connected server's `max_payload` (1 MiB when unknown). */
  readonly maxPayload: () => number
}

/** The node's NATS connection. */
export class NatsConnection extends Context.Tag("flotilla/NatsConnection")<
  NatsConnection,
  NatsConnectionService
>() {}

/** NATS's default `max_payload`. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024

const millis = (d: Duration.DurationInput | undefined, fallback: number): number =>
  d === undefined ? fallback : Duration.toMillis(Duration.decode(d))

/** Normalizes the server list; fails with `NatsInvalidUrl` on anything but nats/tls URLs. */
export const parseServers = (
  servers: string | ReadonlyArray<string>,
): Effect.Effect<string[], NatsInvalidUrl> =>
  Effect.suspend(() => {
    const list = typeof servers === "string" ? servers.split(",") : [...servers]
    const out: string[] = []
    for (const raw of list) {
      const server = raw.trim()
      const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `nats://${server}`
      let url: URL
      try {
        url = new URL(withScheme)
      } catch {
        return Effect.fail(
          new NatsInvalidUrl({ server, message: `${JSON.stringify(server)} is not a valid URL` }),
        )
      }
      if (url.protocol !== "nats:" && url.protocol !== "tls:")
        return Effect.fail(
          new NatsInvalidUrl({
            server,
            message: `${JSON.stringify(server)}: scheme must be nats:// or tls://`,
          }),
        )
      if (url.hostname === "" || (url.pathname !== "" && url.pathname !== "/"))
        return Effect.fail(
          new NatsInvalidUrl({ server, message: `${JSON.stringify(server)} must be host:port` }),
        )
      out.push(server)
    }
    if (out.length === 0)
      return Effect.fail(new NatsInvalidUrl({ server: "", message: "no NATS server given" }))
    return Effect.succeed(out)
  })

/**
 * The reconnect wait: it grows with the time already spent disconnected (half of it, so
 * attempts come at a geometric pace) between `base` and `max`, plus jitter in [0, jitter].
 * nats.js asks for it before every attempt; `onDisconnect`/`onReconnect` keep it current.
 */
export const reconnectBackoff = (base: number, max: number, jitter: number, now: () => number = Date.now) => {
  let disconnectedAt: number | undefined
  return {
    onDisconnect: () => {
      disconnectedAt ??= now()
    },
    onReconnect: () => {
      disconnectedAt = undefined
    },
    delay: (): number => {
      const down = disconnectedAt === undefined ? 0 : now() - disconnectedAt
      return Math.round(Math.min(max, Math.max(base, down / 2)) + Math.random() * jitter)
    },
  }
}

/**
 * The options Flotilla hands to `connect`: exported so tests can check the reconnect policy
 * (`maxReconnectAttempts: -1`) without a server.
 */
export const clientOptions = (
  options: NatsConnectionOptions,
  servers: ReadonlyArray<string>,
  backoff: { readonly delay: () => number },
  credentials?: Uint8Array,
  nkeySeed?: Uint8Array,
): NodeConnectionOptions => ({
  servers: [...servers],
  ...(options.name === undefined ? {} : { name: options.name }),
  ...(options.user === undefined ? {} : { user: options.user, pass: options.pass ?? "" }),
  ...(options.token === undefined ? {} : { token: options.token }),
  ...(credentials === undefined ? {} : { authenticator: credsAuthenticator(credentials) }),
  ...(nkeySeed === undefined ? {} : { authenticator: nkeyAuthenticator(nkeySeed) }),
  ...(options.inboxPrefix === undefined ? {} : { inboxPrefix: options.inboxPrefix }),
  ...(options.tls === undefined ? {} : { tls: options.tls === true ? {} : { ...options.tls } }),
  reconnect: true,
  maxReconnectAttempts: -1,
  waitOnFirstConnect: false,
  ignoreAuthErrorAbort: true,
  reconnectDelayHandler: backoff.delay,
  pingInterval: millis(options.pingInterval, 10_000),
  maxPingOut: 3,
  noAsyncTraces: true,
})

type Attempt =
  | { readonly _tag: "Retry"; readonly message: string }
  | { readonly _tag: "Fatal"; readonly error: NatsConnectionError }

const TLS_CODE = /TLS|SSL|CERT|SELF_SIGNED|ALTNAME|UNABLE_TO_(VERIFY|GET)/i

/** Which credential a connection presents, for refusal messages (never the secret itself). */
export const describeCredential = (options: NatsConnectionOptions): string => {
  if (options.credentials !== undefined) return `the credentials file ${options.credentials}`
  if (options.nkeyFile !== undefined) return `the nkey seed in ${options.nkeyFile}`
  if (options.user !== undefined) return `user ${JSON.stringify(options.user)} with its password`
  if (options.token !== undefined) return "the token"
  const tls = options.tls
  if (tls !== undefined && tls !== true && tls.certFile !== undefined)
    return `the TLS client certificate ${tls.certFile}`
  return "no credential (an anonymous connection)"
}

const classify = (e: unknown, servers: ReadonlyArray<string>, credential = "the credentials"): Attempt => {
  const err = e as { name?: string; message?: string; code?: string; cause?: { code?: string } } | undefined
  const name = err?.name ?? ""
  const message = err?.message ?? String(e)
  const code = err?.code ?? err?.cause?.code ?? ""
  if (name === "AuthorizationError" || name === "UserAuthenticationExpiredError")
    return {
      _tag: "Fatal",
      error: new NatsAuthFailed({ servers, message: `NATS refused ${credential}: ${message}` }),
    }
  if (TLS_CODE.test(code) || /\btls\b/i.test(message) || /certificate|doesn't exist/i.test(message))
    return {
      _tag: "Fatal",
      error: new NatsTlsError({
        servers,
        message: `NATS TLS setup failed: ${message}${code ? ` (${code})` : ""}`,
      }),
    }
  if (code === "ERR_INVALID_URL" || message === "Invalid URL")
    return { _tag: "Fatal", error: new NatsInvalidUrl({ server: servers.join(","), message }) }
  return { _tag: "Retry", message: code && !message.includes(code) ? `${message} (${code})` : message }
}

const statusOf = (s: Status): ConnectionStatus | undefined => {
  switch (s.type) {
    case "disconnect":
      return "disconnected"
    case "reconnecting":
      return "reconnecting"
    case "reconnect":
      return "connected"
    case "close":
      return "closed"
    default:
      return undefined
  }
}

/** When a node still connecting at startup first says so, and how often it repeats it. */
export const UNREACHABLE_FIRST_REPORT_MS = 1_000
export const UNREACHABLE_REPORT_EVERY_MS = 5_000

/** Opens the connection for the scope's lifetime. */
export const make = (
  options: NatsConnectionOptions,
): Effect.Effect<NatsConnectionService, NatsConnectionError, Scope.Scope> =>
  Effect.gen(function* () {
    const servers = yield* parseServers(options.servers)
    const credentials =
      options.credentials === undefined
        ? undefined
        : yield* Effect.tryPromise({
            try: () => readFile(options.credentials!),
            catch: (e) =>
              new NatsCredentialsError({
                path: options.credentials!,
                message: `cannot read NATS credentials ${options.credentials}: ${(e as Error).message}`,
              }),
          })
    const nkeySeed =
      options.nkeyFile === undefined
        ? undefined
        : yield* Effect.tryPromise({
            try: async () => new TextEncoder().encode((await readFile(options.nkeyFile!, "utf8")).trim()),
            catch: (e) =>
              new NatsCredentialsError({
                path: options.nkeyFile!,
                message: `cannot read the NATS nkey seed ${options.nkeyFile}: ${(e as Error).message}`,
              }),
          })
    // At most ~0.5 s between attempts: a node back on the bus soon after the server is, before
    // the peers that reconnected first could find it silent (decision 0132).
    const backoff = reconnectBackoff(
      millis(options.reconnectWait, 100),
      millis(options.reconnectWaitMax, 400),
      millis(options.reconnectJitter, 100),
    )
    const opts = clientOptions(options, servers, backoff, credentials, nkeySeed)
    const startupTimeout = millis(options.startupTimeout, 30_000)
    let attempts = 0
    let lastRefusal = ""
    // One attempt, interruptible (Ctrl-C while the server is unreachable stops at once): a
    // connection that opens after the interruption is closed rather than leaked.
    const attempt = Effect.async<RawNatsConnection, Attempt>((resume) => {
      let interrupted = false
      attempts++
      connect(opts).then(
        (nc) => (interrupted ? void nc.close().catch(() => undefined) : resume(Effect.succeed(nc))),
        (e) => interrupted || resume(Effect.fail(classify(e, servers, describeCredential(options)))),
      )
      return Effect.sync(() => {
        interrupted = true
      })
    })
    const retryPolicy = Schedule.exponential("100 millis", 2).pipe(
      Schedule.union(Schedule.spaced("2 seconds")),
      Schedule.jittered,
      Schedule.upTo(Duration.millis(startupTimeout)),
    )
    const connectOnce = attempt.pipe(
      Effect.tapError((a) => Effect.sync(() => a._tag === "Retry" && (lastRefusal = a.message))),
      Effect.retry({ schedule: retryPolicy, while: (a) => a._tag === "Retry" }),
      Effect.mapError(
        (a): NatsConnectionError =>
          a._tag === "Fatal"
            ? a.error
            : new NatsConnectionRefused({
                servers,
                attempts,
                message: `no NATS server at ${servers.join(", ")} accepted a connection in ${startupTimeout} ms (${attempts} attempts; last: ${lastRefusal})`,
              }),
      ),
    )
    // Say that the server is unreachable while retrying, not only when giving up: after 1 s,
    // then every 5 s (an unreachable host may not even refuse, so this runs on a timer).
    const startedAt = yield* Clock.currentTimeMillis
    const reportWhileConnecting = Effect.gen(function* () {
      const elapsed = (yield* Clock.currentTimeMillis) - startedAt
      yield* Effect.logWarning(
        `nats: cannot reach ${servers.join(", ")} for ${(elapsed / 1000).toFixed(0)} s ` +
          `(${attempts} attempt(s); last: ${lastRefusal === "" ? "no answer yet" : lastRefusal}); ` +
          `retrying until ${(startupTimeout / 1000).toFixed(0)} s`,
      )
    }).pipe(
      Effect.delay(Duration.millis(UNREACHABLE_FIRST_REPORT_MS)),
      Effect.repeat(Schedule.spaced(Duration.millis(UNREACHABLE_REPORT_EVERY_MS))),
    )
    const connectReporting = Effect.flatMap(
      Effect.fork(Effect.interruptible(reportWhileConnecting)),
      (reporter) => Effect.ensuring(connectOnce, Fiber.interrupt(reporter)),
    )
    const drainTimeout = millis(options.drainTimeout, 5_000)
    const nc = yield* Effect.acquireRelease(Effect.interruptible(connectReporting), (nc) =>
      Effect.tryPromise(() => nc.drain()).pipe(
        Effect.timeout(Duration.millis(drainTimeout)),
        Effect.catchAll(() => Effect.tryPromise(() => nc.close())),
        Effect.ignore,
      ),
    )

    // The client's status iterator is read by a plain async loop (it ends when the connection
    // closes) rather than `Stream.fromAsyncIterable`: interrupting a fiber parked in the
    // iterator's `next()` waits for the next status event, up to a ping interval.
    let current: ConnectionStatus = "connected"
    const ref = yield* SubscriptionRef.make<ConnectionStatus>(current)
    const events = yield* Queue.unbounded<Status>()
    const statuses = nc.status()
    void (async () => {
      for await (const s of statuses) {
        if (s.type === "disconnect") backoff.onDisconnect()
        if (s.type === "reconnect") backoff.onReconnect()
        const next = statusOf(s)
        if (next !== undefined) current = next
        events.unsafeOffer(s)
      }
    })().catch(() => undefined)
    let published: ConnectionStatus = current
    const onStatus = (s: Status) =>
      Effect.gen(function* () {
        if (s.type === "error") yield* Effect.logWarning(`nats: ${s.error.message}`)
        if (s.type === "ldm") yield* Effect.logInfo(`nats: server ${s.server} entered lame duck mode`)
        const next = statusOf(s)
        if (next === undefined || next === published) return
        published = next
        yield* SubscriptionRef.set(ref, next)
        const server = "server" in s ? ` (${s.server})` : ""
        yield* Effect.logInfo(`nats: ${next}${server}`)
      })
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(events), onStatus)))

    return {
      connection: nc,
      servers,
      clientOptions: opts,
      status: SubscriptionRef.get(ref),
      statusChanges: ref.changes,
      isConnected: () => current === "connected" && !nc.isClosed(),
      maxPayload: () => nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD,
    } satisfies NatsConnectionService
  })

/** The connection as a layer: opened when built, drained when the layer's scope closes. */
export const layer = (options: NatsConnectionOptions): Layer.Layer<NatsConnection, NatsConnectionError> =>
  Layer.scoped(NatsConnection, make(options))
