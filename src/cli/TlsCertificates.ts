/**
 * The certificates `flotilla security init --tls` writes (docs/security.md, "TLS";
 * docs/decisions/0121): a private CA and one server certificate for nats-server signed by it,
 * both made by the `openssl` command (run without a shell). Clients verify the server with
 * the CA; they authenticate with their user and password as before, so there are no client
 * certificates.
 *
 * - CA: EC P-256, 10 years, `CA:TRUE`, may sign certificates only.
 * - Server: EC P-256, 825 days (the longest validity every TLS client accepts), `serverAuth`,
 *   with the subject alternative names `serverNames` gives.
 *
 * openssl reads a configuration this module writes (never the system's openssl.cnf), so the
 * extensions do not depend on how the machine's openssl is set up.
 */
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { isIP } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Data, Effect } from "effect"

/** The PEM texts of the CA and of the server's certificate and keys. */
export interface TlsMaterial {
  readonly caCert: string
  readonly caKey: string
  readonly serverCert: string
  readonly serverKey: string
}

/** The `openssl` command is not installed (or not on PATH). */
export class OpensslMissing extends Data.TaggedError("OpensslMissing")<{ readonly message: string }> {}

/** An `openssl` run failed; the message carries its last line of error output. */
export class OpensslFailed extends Data.TaggedError("OpensslFailed")<{ readonly message: string }> {}

/** A `--tls-host` that is neither a DNS name nor an IP address. */
export class InvalidTlsHost extends Data.TaggedError("InvalidTlsHost")<{ readonly message: string }> {}

/** Every way generating the certificates can fail. */
export type TlsGenerationError = OpensslMissing | OpensslFailed | InvalidTlsHost

const DNS_NAME =
  /^(?=.{1,253}$)(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/** Addresses that mean "every interface": no client connects to them by that name. */
const WILDCARDS = new Set(["", "0.0.0.0", "::", "[::]"])

/** The host part of a nats-server `listen` value (`host:port`, `[v6]:port`, or a host). */
export const listenHost = (listen: string): string => {
  const v6 = /^\[([^\]]*)\](:\d+)?$/.exec(listen)
  if (v6 !== null) return v6[1]!
  const colon = listen.lastIndexOf(":")
  if (colon < 0) return listen
  // A bare IPv6 address has several colons and no port.
  return listen.indexOf(":") === colon ? listen.slice(0, colon) : listen
}

/**
 * The server certificate's subject alternative names (`DNS:…`/`IP:…`): localhost, 127.0.0.1,
 * the listen host unless it is a wildcard, and `extra` (comma lists allowed), without
 * duplicates; or the first name that is neither a DNS name nor an IP address.
 */
export const serverNames = (listen: string, extra: ReadonlyArray<string>): string[] | InvalidTlsHost => {
  const hosts = ["localhost", "127.0.0.1", listenHost(listen), ...extra.flatMap((e) => e.split(","))]
    .map((h) => h.trim())
    .filter((h) => !WILDCARDS.has(h))
  const names: string[] = []
  for (const host of hosts) {
    const name =
      isIP(host) !== 0 ? `IP:${host}` : DNS_NAME.test(host) ? `DNS:${host.toLowerCase()}` : undefined
    if (name === undefined)
      return new InvalidTlsHost({
        message: `TLS host ${JSON.stringify(host)} is neither a DNS name nor an IP address`,
      })
    if (!names.includes(name)) names.push(name)
  }
  return names
}

/** The openssl configuration: distinguished names and the two certificates' extensions. */
const opensslConfig = (names: ReadonlyArray<string>): string =>
  [
    "[req]",
    "distinguished_name = dn",
    "prompt = no",
    "[dn]",
    "CN = unused",
    "[ca_ext]",
    "basicConstraints = critical,CA:TRUE",
    "keyUsage = critical,keyCertSign,cRLSign",
    "subjectKeyIdentifier = hash",
    "[server_ext]",
    "basicConstraints = critical,CA:FALSE",
    "keyUsage = critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage = serverAuth",
    `subjectAltName = ${names.join(",")}`,
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid",
    "",
  ].join("\n")

/** Runs `openssl args` (no shell); fails with the last line it printed on stderr. */
const openssl = (
  args: ReadonlyArray<string>,
  binary: string,
): Effect.Effect<void, OpensslMissing | OpensslFailed> =>
  Effect.async((resume) => {
    const child = execFile(binary, args, { timeout: 60_000 }, (error, _stdout, stderr) => {
      if (error === null) return resume(Effect.void)
      if ((error as NodeJS.ErrnoException).code === "ENOENT")
        return resume(
          Effect.fail(
            new OpensslMissing({
              message: `--tls needs the openssl command, which is not installed (e.g. apt-get install openssl)`,
            }),
          ),
        )
      const last = String(stderr).trim().split("\n").pop() || `exit status ${String(error.code)}`
      resume(Effect.fail(new OpensslFailed({ message: `openssl ${args[0]} failed: ${last}` })))
    })
    return Effect.sync(() => child.kill())
  })

/** A positive random serial number (RFC 5280: at most 20 bytes, unpredictable). */
const serial = (): string => {
  const bytes = randomBytes(16)
  bytes[0] = bytes[0]! & 0x7f
  return `0x${bytes.toString("hex")}`
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

/** A scratch directory (mode 0700) removed with the scope: the keys never sit anywhere else. */
const scratch = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "flotilla-tls-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true })),
)

/**
 * Generates the CA and the server certificate for `names` (from `serverNames`); `label` (the
 * cluster name) goes into the certificates' common names.
 */
export const generateTlsMaterial = (
  names: ReadonlyArray<string>,
  label: string,
  binary = "openssl",
): Effect.Effect<TlsMaterial, OpensslMissing | OpensslFailed> =>
  Effect.scoped(
    Effect.gen(function* () {
      const dir = yield* scratch
      const at = (f: string) => join(dir, f)
      const cn = label.replace(/[^A-Za-z0-9_.-]/g, "_")
      writeFileSync(at("openssl.cnf"), opensslConfig(names), { mode: 0o600 })
      const config = ["-config", at("openssl.cnf")]
      const ca = ["-days", "3650", "-keyout", at("ca-key.pem"), "-out", at("ca.pem")]
      const caSubject = ["-subj", `/O=Flotilla/CN=flotilla ${cn} CA`]
      yield* openssl(
        ["req", "-x509", ...config, "-extensions", "ca_ext", ...EC_KEY, ...caSubject, ...ca],
        binary,
      )
      const csr = ["-keyout", at("server-key.pem"), "-out", at("server.csr")]
      const serverSubject = ["-subj", `/O=Flotilla/CN=flotilla ${cn} nats-server`]
      yield* openssl(["req", "-new", ...config, ...EC_KEY, ...serverSubject, ...csr], binary)
      const signer = ["-CA", at("ca.pem"), "-CAkey", at("ca-key.pem"), "-set_serial", serial()]
      const extensions = ["-extfile", at("openssl.cnf"), "-extensions", "server_ext"]
      const signed = ["-in", at("server.csr"), "-days", "825", "-out", at("server.pem")]
      yield* openssl(["x509", "-req", ...signer, ...extensions, ...signed], binary)
      const read = (f: string) => readFileSync(at(f), "utf8")
      return {
        caCert: read("ca.pem"),
        caKey: read("ca-key.pem"),
        serverCert: read("server.pem"),
        serverKey: read("server-key.pem"),
      }
    }),
  )
