import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { Counter } from "../../examples/counter/Counter.js"
import {
  EntityClient,
  EntityId,
  EntityShardKind,
  ShardScan,
  type ShardStateMachine,
  Wire,
} from "../../src/runtime/entity/index.js"
import { BadRequest, NotLeader } from "../../src/runtime/RuntimeErrors.js"

const kind = EntityShardKind.make(Counter, { sessions: { ttlMs: 1000 } })
const call = (operation: "Add" | "Get", payload: object) => ({
  kind: "Counter",
  operation,
  type: operation === "Get" ? ("query" as const) : ("command" as const),
  entityId: EntityId.fromString("c"),
  slot: 0,
  payload: Either.getOrThrow(EntityClient.encodePayload(Counter, operation, payload as never)),
  staleRead: false,
})

describe("EntityShardKind", () => {
  it("proposes writes stamped with the leader's clock", () => {
    const request = EntityClient.encodeCall(call("Add", { by: 1 }))
    const routed = kind.route(request, 1_700_000_000_000)
    expect(routed._tag).toBe("Command")
    if (routed._tag !== "Command") return
    expect(Wire.readHeader(routed.command)?.time).toBe(1_700_000_000_000)
    expect(routed.command.subarray(Wire.HEADER_BYTES)).toEqual(request.subarray(Wire.HEADER_BYTES))
    const open = kind.route(Wire.encodeRequest({ type: "openSession", kind: "Counter" }), 5)
    expect(open._tag).toBe("Command")
  })

  it("reads through ReadIndex unless the request allows a stale read", () => {
    expect(kind.route(EntityClient.encodeCall(call("Get", {})), 0)).toMatchObject({
      _tag: "Query",
      stale: false,
    })
    expect(kind.route(EntityClient.encodeCall({ ...call("Get", {}), staleRead: true }), 0)).toMatchObject({
      _tag: "Query",
      stale: true,
    })
    const scan = ShardScan.encodeRequest(Counter, { limit: 5, values: true }, { staleRead: true })
    expect(kind.route(scan, 0)).toMatchObject({ _tag: "Query", stale: true })
  })

  it("answers malformed and misrouted requests at once", () => {
    const tag = (routed: ReturnType<typeof kind.route>) => {
      if (routed._tag !== "Reply") return routed._tag
      const env = Either.getOrThrow(Wire.decodeReply(routed.reply))
      return Either.getOrThrow(Wire.decodeEntityErrorBody(env.body))._tag
    }
    expect(tag(kind.route(Uint8Array.of(7), 0))).toBe("MalformedRequest")
    expect(tag(kind.route(Wire.encodeRequest({ type: "count", kind: "kv" }), 0))).toBe("WrongKind")
  })

  it("encodes runtime errors so clients decode them as EntityUnavailable", () => {
    const reply = kind.encodeError(new NotLeader({ groupId: 7, leaderHint: 2 }))
    const env = Either.getOrThrow(Wire.decodeReply(reply))
    expect(env.status).toBe(Wire.ReplyStatus.RuntimeError)
    expect(Either.getOrThrow(Wire.decodeRuntimeErrorBody(env.body))).toEqual(
      new NotLeader({ groupId: 7, leaderHint: 2 }),
    )
    expect(EntityClient.decodeReply(Counter, "Add", reply)).toEqual(
      Either.left(
        new EntityClient.EntityUnavailable({
          kind: "Counter",
          operation: "Add",
          reason: "group 7: not the leader (try node 2)",
        }),
      ),
    )
    const bad = Either.getOrThrow(Wire.decodeReply(kind.encodeError(new BadRequest({ reason: "x" }))))
    expect(Either.getOrThrow(Wire.decodeRuntimeErrorBody(bad.body))).toBeInstanceOf(BadRequest)
  })

  it("makes shards whose sessions expire by the stamped time", () => {
    const shard = kind.make() as ShardStateMachine.ShardStateMachine
    let index = 0
    const propose = (request: Uint8Array, now: number) => {
      const routed = kind.route(request, now)
      if (routed._tag !== "Command") throw new Error("expected a command")
      return shard.apply(routed.command, ++index)
    }
    const session = Either.getOrThrow(
      Wire.decodeReply(propose(Wire.encodeRequest({ type: "openSession", kind: "Counter" }), 10_000)),
    ).body as number
    const add = (seq: number, now: number) =>
      propose(EntityClient.encodeCall(call("Add", { by: 1 }), { session, seq, ackedBelow: 0 }), now)
    expect(EntityClient.decodeReply(Counter, "Add", add(1, 10_500))).toEqual(Either.right(1))
    expect(EntityClient.decodeReply(Counter, "Add", add(2, 12_000))).toEqual(
      Either.left(expect.objectContaining({ _tag: "SessionExpired" })),
    )
    expect(shard.time).toBe(12_000)
  })
})
