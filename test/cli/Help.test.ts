/**
 * Every command answers `--help` with its usage and description, and bad flags are refused
 * with a message rather than a crash.
 */
import { ValidationError } from "@effect/cli"
import { Cause, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { clientHint, describeError, failureLines } from "../../src/cli/Failure.js"
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
  [["keyspace"], "create, list and delete keyspaces"],
  [["keyspace", "create"], "create a keyspace"],
  [["keyspace", "list"], "list the keyspaces"],
  [["keyspace", "set-replication"], "change the number of voters"],
  [["keyspace", "delete"], "delete a keyspace and all its data"],
  [["group"], "inspect the Raft groups"],
  [["group", "status"], "replicas: role, leader, term"],
  [["group", "transfer-leader"], "move a group's leadership"],
  [["node"], "list, drain and remove the nodes"],
  [["node", "list"], "list the nodes"],
  [["node", "drain"], "drain a node"],
  [["node", "remove"], "retire a drained or down node"],
  [["status"], "nodes, groups, leaders and replication lag"],
  [["bench"], "read/write workload"],
  [["nemesis"], "fault-injection run against the KV store"],
  [["inspect"], "show what a stopped node's data directory holds"],
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
    expect(bench.err).toContain("--clients must be in 1..10000, got 0")
    const dev = await runCli("dev", "--nodes", "12")
    expect(dev.err).toContain("--nodes must be in 1..9, got 12")
  })
})

/** Every path of the command tree, with the subcommand groups. */
const allPaths = commands.map(([path]) => path)

describe("help text", () => {
  it("fits in 80 columns, carries no ANSI escape, and names the full command in USAGE", async () => {
    for (const path of allPaths) {
      const { out } = await runCli(...path, "--help")
      for (const line of out.split("\n"))
        expect(line.length, `${path.join(" ")}: ${line}`).toBeLessThanOrEqual(80)
      expect(out).not.toContain("\u001b[")
      expect(out).toContain(`USAGE\n  ${["flotilla", ...path].join(" ")}`)
    }
  })

  it("shows defaults, and --log-level once with every level", async () => {
    const create = (await runCli("keyspace", "create", "--help")).out
    expect(create).toMatch(/--shards INTEGER\s+number of shards[\s\S]*?\(default: 4\)/)
    expect(create).toContain("(default: nats://127.0.0.1:4222)")
    const start = (await runCli("start", "--help")).out
    expect(start.match(/--log-level/g)).toHaveLength(1)
    expect(start).toContain("trace")
  })

  it("a command group named alone prints its help", async () => {
    const r = await runCli("kv")
    expect(r.failure).toBeUndefined()
    expect(r.out).toContain("USAGE\n  flotilla kv <command>")
    expect(r.out).toMatch(/COMMANDS\n\s+get\s+print the value of a key/)
  })
})

describe("numeric flags", () => {
  const bad: Array<[string[], string]> = [
    [["keyspace", "create", "kv", "--shards", "-4"], "--shards must be in 1..16384, got -4"],
    [["keyspace", "create", "kv", "--replication", "9"], "--replication must be in 1..7, got 9"],
    [["kv", "get", "k", "--timeout-ms", "-5"], "--timeout-ms must be in 1..3600000, got -5"],
    [["kv", "scan", "--limit", "0"], "--limit must be in 1..10000, got 0"],
    [["start", "--data-dir", "/nonexistent", "--tick-ms", "0"], "--tick-ms must be in 1..60000, got 0"],
    [["bench", "--seconds", "0"], "--seconds must be in 1..3600, got 0"],
    [["group", "transfer-leader", "3", "--to", "0"], "--to must be in 1..65535, got 0"],
  ]
  for (const [args, message] of bad)
    it(`flotilla ${args.join(" ")}: one line`, async () => {
      const r = await runCli(...args)
      expect(r.failure).toBeDefined()
      expect(r.err.trim()).toBe(message)
    })
})

describe("failure reports", () => {
  it("print nothing more for a command-line error (@effect/cli printed it)", () => {
    const e = ValidationError.invalidValue({ _tag: "Empty" } as never)
    expect(failureLines(Cause.fail(e), false)).toEqual([])
    expect(failureLines(Cause.interrupt("x" as never), false)).toEqual([])
  })

  it("are one short line, never a schema dump; --verbose adds the cause", () => {
    const parse = Schema.decodeUnknownEither(
      Schema.Struct({ shards: Schema.Number.pipe(Schema.positive()) }),
    )({
      shards: -4,
    })
    if (parse._tag !== "Left") throw new Error("decoded")
    const [line] = failureLines(Cause.fail(parse.left), false)
    expect(line).toMatch(/^flotilla: invalid value at shards: /)
    expect(line!.length).toBeLessThan(200)
    expect(describeError(new Error("a\nb"))).toBe("a")
    expect(describeError({ _tag: "UnknownKind", kind: "Nope", hosted: ["kv"] })).toBe(
      'UnknownKind {"kind":"Nope","hosted":["kv"]}',
    )
    expect(failureLines(Cause.fail(new Error("boom")), true)).toHaveLength(2)
  })
})

describe("client hints", () => {
  it("suggest checking --cluster when no metadata leader answers", async () => {
    expect(clientHint("Unavailable: no shard map: no metadata leader answers", "nope")).toContain(
      "is --cluster right? (its nodes answer on flotilla.nope.cli.meta)",
    )
    expect(clientHint("UnknownKeyspace", "c")).toContain("flotilla keyspace create kv")
    expect(clientHint("Timeout", "c")).toBeUndefined()
  })
})
