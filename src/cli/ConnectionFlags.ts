/**
 * The NATS connection flags every command that connects shares (`start`, `kv`, `keyspace`,
 * `status`, `bench`, and later ones), after the `nats` CLI's conventions, each with an
 * environment variable so that secrets need not sit on a command line:
 *
 * | flag                  | environment variable        |
 * | --------------------- | --------------------------- |
 * | `--user`, `--password`| `FLOTILLA_NATS_USER`, `FLOTILLA_NATS_PASSWORD` |
 * | `--token`             | `FLOTILLA_NATS_TOKEN`       |
 * | `--creds FILE`        | `FLOTILLA_NATS_CREDS`       |
 * | `--nkey FILE`         | `FLOTILLA_NATS_NKEY`        |
 * | `--tlscert FILE`      | `FLOTILLA_NATS_TLSCERT`     |
 * | `--tlskey FILE`       | `FLOTILLA_NATS_TLSKEY`      |
 * | `--tlsca FILE`        | `FLOTILLA_NATS_TLSCA`       |
 * | `--inbox-prefix P`    | `FLOTILLA_NATS_INBOX_PREFIX`|
 *
 * With `--user` the reply inbox defaults to `_INBOX.<user>` (the per-user inboxes
 * `flotilla security init` grants). A refused connection names the credential it presented.
 */
import { Options } from "@effect/cli"
import { Config, Option } from "effect"
import type { NatsConnectionOptions } from "../transport/NatsConnection.js"

const text = (name: string, env: string, description: string) =>
  Options.text(name).pipe(
    Options.withDescription(`${description} (env ${env})`),
    Options.withFallbackConfig(Config.string(env)),
    Options.optional,
  )

/** The flags as one record (spread into a command's config). */
export const connectionFlags = {
  user: text("user", "FLOTILLA_NATS_USER", "NATS user name"),
  password: text("password", "FLOTILLA_NATS_PASSWORD", "NATS password of --user"),
  token: text("token", "FLOTILLA_NATS_TOKEN", "NATS authentication token"),
  creds: text("creds", "FLOTILLA_NATS_CREDS", "NATS credentials file (JWT and nkey seed)"),
  nkey: text("nkey", "FLOTILLA_NATS_NKEY", "file holding a NATS nkey seed"),
  tlscert: text("tlscert", "FLOTILLA_NATS_TLSCERT", "TLS client certificate file"),
  tlskey: text("tlskey", "FLOTILLA_NATS_TLSKEY", "TLS client key file"),
  tlsca: text("tlsca", "FLOTILLA_NATS_TLSCA", "CA certificate file the server's certificate must chain to"),
  inboxPrefix: text(
    "inbox-prefix",
    "FLOTILLA_NATS_INBOX_PREFIX",
    "prefix of reply subjects (default _INBOX.<user> with --user, else _INBOX)",
  ),
}

/** The parsed flags. */
export interface ConnectionFlags {
  readonly user: Option.Option<string>
  readonly password: Option.Option<string>
  readonly token: Option.Option<string>
  readonly creds: Option.Option<string>
  readonly nkey: Option.Option<string>
  readonly tlscert: Option.Option<string>
  readonly tlskey: Option.Option<string>
  readonly tlsca: Option.Option<string>
  readonly inboxPrefix: Option.Option<string>
}

/**
 * The connection options the flags ask for, or why they are inconsistent (a password without
 * a user, two kinds of credential, half a TLS key pair).
 */
export const connectionOptions = (
  flags: ConnectionFlags,
): Omit<NatsConnectionOptions, "servers" | "name"> | string => {
  const get = Option.getOrUndefined
  const kinds = [
    flags.user._tag === "Some" ? "--user" : undefined,
    flags.token._tag === "Some" ? "--token" : undefined,
    flags.creds._tag === "Some" ? "--creds" : undefined,
    flags.nkey._tag === "Some" ? "--nkey" : undefined,
  ].filter((k) => k !== undefined)
  if (kinds.length > 1) return `${kinds.join(" and ")} exclude each other: give one credential`
  if (flags.password._tag === "Some" && flags.user._tag === "None") return "--password needs --user"
  if ((flags.tlscert._tag === "Some") !== (flags.tlskey._tag === "Some"))
    return "--tlscert and --tlskey go together"
  const user = get(flags.user)
  const inboxPrefix = get(flags.inboxPrefix) ?? (user === undefined ? undefined : `_INBOX.${user}`)
  const tls =
    flags.tlscert._tag === "Some" || flags.tlsca._tag === "Some"
      ? {
          ...(flags.tlscert._tag === "Some" ? { certFile: flags.tlscert.value } : {}),
          ...(flags.tlskey._tag === "Some" ? { keyFile: flags.tlskey.value } : {}),
          ...(flags.tlsca._tag === "Some" ? { caFile: flags.tlsca.value } : {}),
        }
      : undefined
  return {
    ...(user === undefined ? {} : { user, pass: get(flags.password) ?? "" }),
    ...(flags.token._tag === "Some" ? { token: flags.token.value } : {}),
    ...(flags.creds._tag === "Some" ? { credentials: flags.creds.value } : {}),
    ...(flags.nkey._tag === "Some" ? { nkeyFile: flags.nkey.value } : {}),
    ...(inboxPrefix === undefined ? {} : { inboxPrefix }),
    ...(tls === undefined ? {} : { tls }),
  }
}
