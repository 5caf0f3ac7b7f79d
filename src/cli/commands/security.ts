/**
 * `flotilla security init --out DIR`: a nats-server configuration with node, client and
 * operator users (SecurityConfig.ts), one environment file per user with its credentials, and
 * the cluster secret, every secret file mode 0600. It refuses to overwrite existing files.
 *
 *   flotilla security init --out secure --cluster prod --listen 10.0.0.5:4222
 *   nats-server -c secure/nats.conf
 *   set -a; . secure/node.env; flotilla start --bootstrap --data-dir d1 --cluster prod --nats nats://10.0.0.5:4222
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
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
  userEnvFile,
} from "../SecurityConfig.js"

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

/** Writes the files; the paths written. */
export const writeSecurityFiles = (dir: string, clusterName: string, listenOn: string): string[] => {
  if (!isPlainToken(clusterName))
    throw new Error(`cluster name ${JSON.stringify(clusterName)} must be one token`)
  const root = resolve(dir)
  const secretFile = join(root, "cluster.secret")
  const files = [join(root, "nats.conf"), secretFile, ...SECURITY_USERS.map((u) => join(root, `${u}.env`))]
  const existing = files.filter((f) => existsSync(f))
  if (existing.length > 0) throw new Error(`refusing to overwrite ${existing.join(", ")}`)
  mkdirSync(root, { recursive: true, mode: 0o700 })
  const passwords = Object.fromEntries(SECURITY_USERS.map((u) => [u, newPassword()])) as Record<
    SecurityUser,
    string
  >
  const write = (path: string, text: string) => writeFileSync(path, text, { mode: 0o600, flag: "wx" })
  write(join(root, "nats.conf"), natsServerConfig(clusterName, listenOn, passwords))
  write(secretFile, generateClusterSecretText())
  for (const u of SECURITY_USERS)
    write(join(root, `${u}.env`), userEnvFile(u, passwords[u], u === "node" ? secretFile : undefined))
  return files
}

const init = Command.make("init", { out, cluster, listen }, (o) =>
  Effect.gen(function* () {
    const files = yield* Effect.try({
      try: () => writeSecurityFiles(o.out, o.cluster, o.listen),
      catch: (e) => new Error(`security init: ${e instanceof Error ? e.message : String(e)}`),
    })
    yield* Console.log(
      [
        ...files.map((f) => `wrote ${f}`),
        "",
        `run the server:   nats-server -c ${files[0]}`,
        `run a node:       set -a; . ${join(resolve(o.out), "node.env")}; set +a; flotilla start --cluster ${o.cluster} ...`,
        `use the cluster:  set -a; . ${join(resolve(o.out), "client.env")}; set +a; flotilla kv get k --cluster ${o.cluster}`,
        "see docs/security.md",
      ].join("\n"),
    )
  }),
).pipe(
  Command.withDescription(
    "write a nats-server configuration with node, client and operator users, their credentials and the cluster secret",
  ),
)

/** `flotilla security`. */
export const security = Command.make("security").pipe(
  Command.withDescription("set up authentication for a cluster"),
  Command.withSubcommands([init]),
)
