/**
 * What `flotilla security init` writes (docs/security.md): a nats-server configuration with
 * three users holding exactly the permissions of their subject classes (Subjects.ts), their
 * credentials, and the cluster secret (ClusterSecret.ts).
 *
 * | user       | publish                                 | subscribe                 |
 * | ---------- | --------------------------------------- | ------------------------- |
 * | `node`     | `<root>.>`, `_INBOX.>` (replies)        | `<root>.>`, `_INBOX.node.>` |
 * | `client`   | `<root>.cli.>`, `<root>.kv`             | `_INBOX.client.>`         |
 * | `operator` | `<root>.cli.>`, `<root>.kv`, `<root>.op.>` | `_INBOX.operator.>`    |
 *
 * Each user reads replies on its own inbox prefix (`_INBOX.<user>`, which the connection flags
 * set from `--user`), so no user reads another's replies (issue 11, finding 4).
 *
 * With `--tls` the configuration also requires TLS with the server certificate of
 * TlsCertificates.ts, and every environment file names the CA clients verify it with.
 */
import { randomBytes } from "node:crypto"
import { clusterSubjects } from "../transport/Subjects.js"

/** The users `security init` creates. */
export const SECURITY_USERS = ["node", "client", "operator"] as const
export type SecurityUser = (typeof SECURITY_USERS)[number]

/** The publish and subscribe permissions of each user in cluster `cluster`. */
export const permissionsOf = (
  cluster: string,
  prefix?: string,
): Record<SecurityUser, { readonly publish: string[]; readonly subscribe: string[] }> => {
  const s = clusterSubjects(cluster, prefix)
  return {
    node: { publish: [`${s.root}.>`, "_INBOX.>"], subscribe: [`${s.root}.>`, "_INBOX.node.>"] },
    client: { publish: [s.classWildcard("client"), s.kv], subscribe: ["_INBOX.client.>"] },
    operator: {
      publish: [s.classWildcard("client"), s.kv, s.classWildcard("operator")],
      subscribe: ["_INBOX.operator.>"],
    },
  }
}

/** A random password (URL-safe, 32 characters). */
export const newPassword = (): string => randomBytes(24).toString("base64url")

const list = (items: ReadonlyArray<string>) => `[${items.map((i) => JSON.stringify(i)).join(", ")}]`

/** The nats-server `authorization` block for `passwords` (one per user). */
export const authorizationBlock = (
  cluster: string,
  passwords: Readonly<Record<SecurityUser, string>>,
  prefix?: string,
): string => {
  const perms = permissionsOf(cluster, prefix)
  const users = SECURITY_USERS.map(
    (u) =>
      `    {\n      user: ${JSON.stringify(u)}\n      password: ${JSON.stringify(passwords[u])}\n` +
      `      permissions: {\n        publish: { allow: ${list(perms[u].publish)} }\n` +
      `        subscribe: { allow: ${list(perms[u].subscribe)} }\n      }\n    }`,
  )
  return `authorization {\n  users: [\n${users.join("\n")}\n  ]\n}\n`
}

/** Where the files of `security init --tls` are (absolute paths: nats-server resolves relative ones against its working directory). */
export interface TlsFiles {
  readonly certFile: string
  readonly keyFile: string
  readonly caFile: string
}

/**
 * The nats-server `tls` block: TLS is then required of every client. The handshake timeout is
 * raised from nats-server's half a second to 5 s so a busy machine's clients are not cut off
 * mid-handshake.
 */
export const tlsBlock = (files: TlsFiles): string =>
  `tls {\n  cert_file: ${JSON.stringify(files.certFile)}\n  key_file: ${JSON.stringify(files.keyFile)}\n` +
  `  ca_file: ${JSON.stringify(files.caFile)}\n  timeout: 5\n}\n`

/** The whole nats-server configuration: where it listens, TLS if asked, and the authorization block. */
export const natsServerConfig = (
  cluster: string,
  listen: string,
  passwords: Readonly<Record<SecurityUser, string>>,
  prefix?: string,
  tls?: TlsFiles,
): string =>
  `# Written by \`flotilla security init\` for cluster ${JSON.stringify(cluster)}.\n` +
  `listen: ${JSON.stringify(listen)}\n\n${tls === undefined ? "" : `${tlsBlock(tls)}\n`}` +
  authorizationBlock(cluster, passwords, prefix)

/**
 * The environment file of a user: what `flotilla` commands read (`set -a; . FILE`). With
 * `caFile` the commands verify the server's certificate against that CA.
 */
export const userEnvFile = (
  user: SecurityUser,
  password: string,
  secretFile?: string,
  caFile?: string,
): string =>
  `FLOTILLA_NATS_USER=${user}\nFLOTILLA_NATS_PASSWORD=${password}\n` +
  (secretFile === undefined ? "" : `FLOTILLA_CLUSTER_SECRET_FILE=${secretFile}\n`) +
  (caFile === undefined ? "" : `FLOTILLA_NATS_TLSCA=${caFile}\n`)
