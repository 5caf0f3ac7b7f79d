/**
 * `flotilla security init --out DIR`: a nats-server configuration with node, client and
 * operator users (SecurityConfig.ts), one environment file per user with its credentials, and
 * the cluster secret, every secret file mode 0600. With `--tls` also a CA and a server
 * certificate for nats-server (TlsCertificates.ts), a `tls` block in the configuration and the
 * CA in every environment file. It refuses to overwrite existing files.
 *
 *   flotilla security init --out secure --cluster prod --listen 10.0.0.5:4222 --tls
 *   nats-server -c secure/nats.conf
 *   set -a; . secure/node.env; flotilla start --bootstrap --data-dir d1 --cluster prod --nats tls://10.0.0.5:4222
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { isIP } from "node:net"
import { join, resolve } from "node:path"
import { Command, Options } from "@effect/cli"
import { Console, Effect } from "effect"
import { generateClusterSecretText } from "../../transport/ClusterSecret.js"
import { isPlainToken } from "../../transport/Subjects.js"
import {
  natsServerConfig,
  newPassword,
  SECURITY_USERS,
  type SecurityUser,
  type TlsFiles,
  userEnvFile,
} from "../SecurityConfig.js"
import { generateTlsMaterial, listenHost, serverNames, type TlsMaterial } from "../TlsCertificates.js"

const out = Options.directory("out", { exists: "either" }).pipe(
  Options.withDescription("directory to write the configuration, credentials and cluster secret into"),
)
const cluster = Options.text("cluster").pipe(
  Options.withDescription("cluster name"),
  Options.withDefault("default"),
)
const listen = Options.text("listen").pipe(
  Options.withDescription("host:port nats-server listens on"),
  Options.withDefault("127.0.0.1:4222"),
)
const tls = Options.boolean("tls").pipe(
  Options.withDescription("also write a CA and a server certificate (openssl) and require TLS"),
)
const tlsHost = Options.text("tls-host").pipe(
  Options.withDescription(
    "with --tls: another name or IP address clients reach nats-server by (repeatable or comma separated; localhost, 127.0.0.1 and the --listen host are always in)",
  ),
  Options.repeated,
)

/** The files `security init` writes into `root`: the configuration first. */
export const securityFilePaths = (root: string, withTls: boolean): string[] => [
  join(root, "nats.conf"),
  join(root, "cluster.secret"),
  ...SECURITY_USERS.map((u) => join(root, `${u}.env`)),
  ...(withTls ? TLS_FILE_NAMES.map((f) => join(root, f)) : []),
]

const TLS_FILE_NAMES = ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem"] as const

/** Throws when any of `files` exists (nothing is ever overwritten). */
const refuseExisting = (files: ReadonlyArray<string>): void => {
  const existing = files.filter((f) => existsSync(f))
  if (existing.length > 0) throw new Error(`refusing to overwrite ${existing.join(", ")}`)
}

/** Writes the files (with `tls`, the certificates too); the paths written. */
export const writeSecurityFiles = (
  dir: string,
  clusterName: string,
  listenOn: string,
  tls?: TlsMaterial,
): string[] => {
  if (!isPlainToken(clusterName))
    throw new Error(`cluster name ${JSON.stringify(clusterName)} must be one token`)
  const root = resolve(dir)
  const files = securityFilePaths(root, tls !== undefined)
  refuseExisting(files)
  mkdirSync(root, { recursive: true, mode: 0o700 })
  const passwords = Object.fromEntries(SECURITY_USERS.map((u) => [u, newPassword()])) as Record<
    SecurityUser,
    string
  >
  const write = (path: string, text: string, mode = 0o600) => writeFileSync(path, text, { mode, flag: "wx" })
  const tlsFiles: TlsFiles | undefined =
    tls === undefined
      ? undefined
      : {
          certFile: join(root, "server.pem"),
          keyFile: join(root, "server-key.pem"),
          caFile: join(root, "ca.pem"),
        }
  if (tls !== undefined) {
    // The certificates are public (0644); the keys are not.
    write(join(root, "ca.pem"), tls.caCert, 0o644)
    write(join(root, "ca-key.pem"), tls.caKey)
    write(join(root, "server.pem"), tls.serverCert, 0o644)
    write(join(root, "server-key.pem"), tls.serverKey)
  }
  const secretFile = join(root, "cluster.secret")
  write(join(root, "nats.conf"), natsServerConfig(clusterName, listenOn, passwords, undefined, tlsFiles))
  write(secretFile, generateClusterSecretText())
  for (const u of SECURITY_USERS)
    write(
      join(root, `${u}.env`),
      userEnvFile(u, passwords[u], u === "node" ? secretFile : undefined, tlsFiles?.caFile),
    )
  return files
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)))

/** What `security init` is asked for. */
export interface SecurityInitOptions {
  readonly out: string
  readonly cluster: string
  readonly listen: string
  /** Generate certificates and require TLS. */
  readonly tls: boolean
  /** Extra names of the server certificate (`--tls-host`). */
  readonly tlsHosts: ReadonlyArray<string>
}

/** Checks, generates the certificates if asked, and writes everything; the paths written. */
export const initSecurity = (o: SecurityInitOptions): Effect.Effect<string[], Error> =>
  Effect.gen(function* () {
    if (!o.tls && o.tlsHosts.length > 0) return yield* Effect.fail(new Error("--tls-host needs --tls"))
    if (!isPlainToken(o.cluster))
      return yield* Effect.fail(new Error(`cluster name ${JSON.stringify(o.cluster)} must be one token`))
    const names = o.tls ? serverNames(o.listen, o.tlsHosts) : []
    if (!Array.isArray(names)) return yield* Effect.fail(new Error(names.message))
    // Refuse before running openssl, and again (atomically, flag "wx") while writing.
    yield* Effect.try({ try: () => refuseExisting(securityFilePaths(resolve(o.out), o.tls)), catch: asError })
    const material = o.tls ? yield* generateTlsMaterial(names, o.cluster) : undefined
    return yield* Effect.try({
      try: () => writeSecurityFiles(o.out, o.cluster, o.listen, material),
      catch: asError,
    })
  }).pipe(Effect.mapError((e) => new Error(`security init: ${e.message}`)))

/** The URL clients reach the server by: tls:// with TLS, the listen host unless it is a wildcard. */
export const connectUrl = (o: SecurityInitOptions): string => {
  const host = listenHost(o.listen)
  const port = /:(\d+)$/.exec(o.listen)?.[1] ?? "4222"
  const wildcard = host === "" || host === "0.0.0.0" || host === "::"
  const name = wildcard ? (o.tlsHosts.flatMap((h) => h.split(","))[0]?.trim() ?? "localhost") : host
  return `${o.tls ? "tls" : "nats"}://${isIP(name) === 6 ? `[${name}]` : name}:${port}`
}

const init = Command.make("init", { out, cluster, listen, tls, tlsHost }, (o) =>
  Effect.gen(function* () {
    const options = { ...o, tlsHosts: o.tlsHost }
    const files = yield* initSecurity(options)
    const dir = resolve(o.out)
    const url = connectUrl(options)
    yield* Console.log(
      [
        ...files.map((f) => `wrote ${f}`),
        "",
        `run the server:   nats-server -c ${files[0]}`,
        `run a node:       set -a; . ${join(dir, "node.env")}; set +a; flotilla start --cluster ${o.cluster} --nats ${url} ...`,
        `use the cluster:  set -a; . ${join(dir, "client.env")}; set +a; flotilla kv get k --cluster ${o.cluster} --nats ${url}`,
        ...(o.tls ? [`keep ${join(dir, "ca-key.pem")} offline: it signs certificates clients trust`] : []),
        "see docs/security.md",
      ].join("\n"),
    )
  }),
).pipe(
  Command.withDescription(
    "write a nats-server configuration with node, client and operator users, their credentials and the cluster secret (with --tls: certificates)",
  ),
)

/** `flotilla security`. */
export const security = Command.make("security").pipe(
  Command.withDescription("set up authentication for a cluster"),
  Command.withSubcommands([init]),
)
