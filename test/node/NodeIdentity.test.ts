import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Context, Effect, Either, Layer, Option, Stream } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { decodeRequest, encodeReply } from "../../src/meta/MetaProtocol.js"
import * as NodeIdentity from "../../src/node/NodeIdentity.js"
import { NodeId } from "../../src/raft/Ids.js"
import * as BusModule from "../../src/transport/Bus.js"
import { Bus } from "../../src/transport/Bus.js"
import * as MemoryBus from "../../src/transport/MemoryBus.js"

const dirs: string[] = []
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "flotilla-identity-"))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A fake metadata leader that registers tokens in order (node ids from 2), counting requests. */
const withLeader = <A, E>(body: Effect.Effect<A, E, Bus>, answer = true) =>
  Effect.scoped(
    Effect.gen(function* () {
      const bus = yield* MemoryBus.make()
      const ids = new Map<string, number>()
      let requests = 0
      if (answer) {
        const server = yield* Layer.build(BusModule.layerMemory(bus))
        const b = Context.get(server, Bus)
        const sub = yield* b.subscribe("flotilla.c.int.meta")
        yield* Effect.forkScoped(
          Stream.runForEach(sub.messages, (m) => {
            requests++
            const req = decodeRequest(m.data)
            if (Either.isLeft(req) || req.right._tag !== "RegisterNode") return Effect.void
            const known = ids.get(req.right.token)
            const node = known ?? ids.size + 2
            ids.set(req.right.token, node)
            return Effect.asVoid(
              m.respond(
                encodeReply({ _tag: "NodeRegistered", node: NodeId(node), rejoined: known !== undefined }),
              ),
            )
          }),
        )
      }
      const result = yield* Effect.provide(body, BusModule.layerMemory(bus))
      return { result, requests: () => requests }
    }),
  )

const resolve = (dataDir: string, mode: "bootstrap" | "join", cluster = "c") =>
  NodeIdentity.resolve({ dataDir, cluster, mode, name: "n", labels: {} })

describe("node identity", () => {
  it("a bootstrapping node is node 1, with a fresh token written atomically", async () => {
    const dir = tmp()
    const { result } = await Effect.runPromise(withLeader(resolve(dir, "bootstrap"), false))
    expect(result).toMatchObject({ nodeId: 1, cluster: "c", bootstrapped: false, fresh: true })
    expect(result.token).toMatch(/^[0-9a-f-]{36}$/)
    const file = JSON.parse(readFileSync(join(dir, "identity.json"), "utf8"))
    expect(file).toEqual({ version: 1, cluster: "c", token: result.token, node: 1, bootstrapped: false })
    expect(readdirSync(dir)).toEqual(["identity.json"])
    await Effect.runPromise(NodeIdentity.markBootstrapped(dir, result))
    const again = await Effect.runPromise(withLeader(resolve(dir, "bootstrap"), false))
    expect(again.result).toEqual({ ...result, bootstrapped: true, fresh: false })
  })

  it("refuses to bootstrap where a metadata leader already answers", async () => {
    const out = await Effect.runPromise(Effect.either(withLeader(resolve(tmp(), "bootstrap"))))
    expect(Either.isLeft(out) && out.left.message).toMatch(/join it instead of bootstrapping/)
  })

  it("a joining node writes its token, registers, then writes the id it got; a restart keeps it", async () => {
    const dir = tmp()
    const first = await Effect.runPromise(withLeader(resolve(dir, "join")))
    expect(first.result).toMatchObject({ nodeId: 2, fresh: true })
    expect(first.requests()).toBe(1)
    const restart = await Effect.runPromise(withLeader(resolve(dir, "join"), false))
    expect(restart.result).toEqual({ ...first.result, fresh: false })
  })

  it("a node that crashed between writing its token and its id registers with the same token", async () => {
    const dir = tmp()
    writeFileSync(join(dir, "identity.json"), JSON.stringify({ version: 1, cluster: "c", token: "tok" }))
    const out = await Effect.runPromise(withLeader(resolve(dir, "join")))
    expect(out.result).toMatchObject({ nodeId: 2, token: "tok" })
    expect(JSON.parse(readFileSync(join(dir, "identity.json"), "utf8"))).toMatchObject({
      token: "tok",
      node: 2,
    })
  })

  it("refuses a data directory of another cluster, and --bootstrap on a node that joined", async () => {
    const dir = tmp()
    await Effect.runPromise(withLeader(resolve(dir, "join")))
    const other = await Effect.runPromise(Effect.either(withLeader(resolve(dir, "join", "d"), false)))
    expect(Either.isLeft(other) && other.left.message).toMatch(/belongs to cluster "c"/)
    const boot = await Effect.runPromise(Effect.either(withLeader(resolve(dir, "bootstrap"), false)))
    expect(Either.isLeft(boot) && boot.left.message).toMatch(/start it without --bootstrap/)
  })

  it("reports an unreadable identity file instead of starting as someone new", async () => {
    const dir = tmp()
    writeFileSync(join(dir, "identity.json"), "{ not json")
    const out = await Effect.runPromise(Effect.either(NodeIdentity.read(dir)))
    expect(Either.isLeft(out) && out.left.message).toMatch(/not a valid identity file/)
    expect(Option.isNone(await Effect.runPromise(NodeIdentity.read(tmp())))).toBe(true)
    expect(existsSync(join(dir, "identity.json.tmp"))).toBe(false)
  })
})
