/**
 * The names `security init --tls` puts into the server certificate and the URL it prints:
 * the listen host (IPv4, IPv6, name; wildcards left out), `--tls-host` lists, and a clear
 * refusal of anything that is neither a DNS name nor an IP address.
 */
import { describe, expect, it } from "vitest"
import { connectUrl } from "../../src/cli/commands/security.js"
import { listenHost, serverNames } from "../../src/cli/TlsCertificates.js"

const options = { out: "x", cluster: "c", tls: true }

describe("listenHost", () => {
  it("takes the host of host:port, [v6]:port, a bare IPv6 address and a bare host", () => {
    expect(listenHost("10.0.0.5:4222")).toBe("10.0.0.5")
    expect(listenHost("bus.example:4222")).toBe("bus.example")
    expect(listenHost("[::1]:4222")).toBe("::1")
    expect(listenHost("fe80::1")).toBe("fe80::1")
    expect(listenHost("bus")).toBe("bus")
    expect(listenHost(":4222")).toBe("")
  })
})

describe("serverNames", () => {
  it("always holds localhost and 127.0.0.1, adds the listen host and --tls-host lists, without duplicates", () => {
    expect(serverNames("10.0.0.5:4222", ["Bus.Example, 10.0.0.5", "::1", "localhost"])).toEqual([
      "DNS:localhost",
      "IP:127.0.0.1",
      "IP:10.0.0.5",
      "DNS:bus.example",
      "IP:::1",
    ])
  })

  it("leaves wildcard listen addresses out", () => {
    expect(serverNames("0.0.0.0:4222", [])).toEqual(["DNS:localhost", "IP:127.0.0.1"])
    expect(serverNames("[::]:4222", [])).toEqual(["DNS:localhost", "IP:127.0.0.1"])
  })

  it("refuses a name that could not be a host, saying which", () => {
    for (const bad of ["bad host", "a,b=c", "x\nsubjectAltName=DNS:evil", "-dash.example"]) {
      const result = serverNames("127.0.0.1:4222", [bad])
      expect(result).toMatchObject({ _tag: "InvalidTlsHost" })
      expect((result as { message: string }).message).toMatch(/is neither a DNS name nor an IP address/)
    }
  })
})

describe("connectUrl", () => {
  it("says tls:// with --tls and nats:// without, on the listen host or, for a wildcard, the first --tls-host", () => {
    expect(connectUrl({ ...options, listen: "10.0.0.5:4333", tlsHosts: [] })).toBe("tls://10.0.0.5:4333")
    expect(connectUrl({ ...options, listen: "0.0.0.0:4222", tlsHosts: ["bus.example,b2"] })).toBe(
      "tls://bus.example:4222",
    )
    expect(connectUrl({ ...options, listen: "0.0.0.0:4222", tlsHosts: [] })).toBe("tls://localhost:4222")
    expect(connectUrl({ ...options, listen: "[::1]:4222", tlsHosts: [] })).toBe("tls://[::1]:4222")
    expect(connectUrl({ ...options, tls: false, listen: "127.0.0.1:4222", tlsHosts: [] })).toBe(
      "nats://127.0.0.1:4222",
    )
  })
})
