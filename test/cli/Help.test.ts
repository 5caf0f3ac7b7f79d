/**
 * Every command answers `--help` with its usage and description, and bad flags are refused
 * with a message rather than a crash.
 */
import { describe, expect, it } from "vitest"
import { runCli } from "./support/RunCli.js"

const commands: Array<[string[], string]> = [
  [[], "multi-raft sharded actor runtime"],
  [["dev"], "run a local cluster"],
  [["start"], "run one node"],
  [["kv"], "read and write the KV store"],
  [["kv", "get"], "print the value of a key"],
  [["kv", "put"], "set the value of a key"],
  [["kv", "del"], "delete a key"],
  [["kv", "scan"], "list keys and values in key order"],
  [["keyspace"], "create and list keyspaces"],
  [["keyspace", "create"], "create a keyspace"],
  [["keyspace", "list"], "list the keyspaces"],
  [["status"], "nodes, groups, leaders and replication lag"],
  [["bench"], "read/write workload"],
  [["nemesis"], "fault-injection run against the KV store"],
]

describe("flotilla --help", () => {
  for (const [path, description] of commands) {
    it(`flotilla ${[...path, "--help"].join(" ")}`, async () => {
      const r = await runCli(...path, "--help")
      expect(r.failure).toBeUndefined()
      expect(r.out).toContain(description)
      expect(r.out).toContain("USAGE")
    })
  }

  it("refuses unknown commands and bad flag values", async () => {
    expect((await runCli("frobnicate")).failure).toBeDefined()
    const bench = await runCli(
      "bench",
      "--clients",
      "0",
      "--nats",
      "nats://127.0.0.1:1",
      "--timeout-ms",
      "100",
    )
    expect(bench.failure).toContain("--clients must be in 1..10000")
    const dev = await runCli("dev", "--nodes", "12")
    expect(dev.failure).toContain("--nodes must be in 1..9")
  })
})
