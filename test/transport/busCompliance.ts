/**
 * The Bus compliance suite, run against the NATS bus and the in-process memory bus: both must
 * behave like NATS core (wildcards, queue groups, no responders, timeouts, payload limit).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import type { BusService } from "../../src/transport/Bus.js"
import * as Bus from "../../src/transport/Bus.js"
import { eventually } from "./helpers.js"

/** Opens one bus client (a node or a client process) for the scope's lifetime. */
export type BusFactory = Effect.Effect<BusService, unknown, Scope.Scope>

/** Prepares one test's bus (one memory bus, or the shared server) and returns its client factory. */
export type BusSetup = Effect.Effect<BusFactory, unknown, Scope.Scope>

const te = new TextEncoder()
const td = new TextDecoder()
let subjects = 0
/** A subject root no other test uses. */
const fresh = () => `bus${Date.now() % 100_000}x${++subjects}`

/** Registers the bus compliance tests; `setup` runs once per test. */
export const busCompliance = (name: string, setup: BusSetup): void => {
  describe(`Bus compliance: ${name}`, () => {
    it.scopedLive("delivers publishes to exact, `*` and `>` subscriptions only when they match", () =>
      Effect.gen(function* () {
        const root = fresh()
        const open = yield* setup
        const a = yield* open
        const b = yield* open
        const exact = yield* b.subscribe(`${root}.group.7`)
        const star = yield* b.subscribe(`${root}.*.7`)
        const tail = yield* b.subscribe(`${root}.>`)
        const other = yield* b.subscribe(`${root}.group.8`)
        yield* a.publish(`${root}.group.7`, te.encode("x"))
        yield* a.publish(`${root}.meta`, te.encode("y"))
        for (const sub of [exact, star]) expect(td.decode((yield* sub.take).data)).toBe("x")
        expect([td.decode((yield* tail.take).data), td.decode((yield* tail.take).data)]).toEqual(["x", "y"])
        const extra = yield* other.take.pipe(Effect.timeout("200 millis"), Effect.option)
        expect(extra._tag).toBe("None")
      }),
    )

    it.scopedLive("answers requests through serve", () =>
      Effect.gen(function* () {
        const root = fresh()
        const open = yield* setup
        const server = yield* open
        const client = yield* open
        yield* Bus.serve(`${root}.kv`, (m) => Effect.succeed(te.encode(`echo ${td.decode(m.data)}`))).pipe(
          Effect.provideService(Bus.Bus, server),
        )
        const reply = yield* client.request(`${root}.kv`, te.encode("hi"), { timeout: "5 seconds" })
        expect(td.decode(reply)).toBe("echo hi")
      }),
    )

    it.scopedLive(
      "gives each message of a queue group to ONE member, and every message to plain subscribers",
      () =>
        Effect.gen(function* () {
          const root = fresh()
          const open = yield* setup
          const handled = [0, 0, 0]
          const members = yield* Effect.forEach([0, 1, 2], () => open)
          for (const [i, m] of members.entries())
            yield* Bus.serve(`${root}.kv`, () => Effect.sync(() => te.encode(String(++handled[i]!))), {
              queue: "kv",
            }).pipe(Effect.provideService(Bus.Bus, m))
          const watcher = yield* (yield* open).subscribe(`${root}.kv`)
          const client = yield* open
          for (let i = 0; i < 60; i++)
            yield* client.request(`${root}.kv`, te.encode("q"), { timeout: "5 seconds" })
          expect(handled.reduce((x, y) => x + y, 0)).toBe(60)
          expect(handled.every((n) => n > 0)).toBe(true)
          for (let i = 0; i < 60; i++) yield* watcher.take
          expect(watcher.dropped()).toBe(0)
        }),
    )

    it.scopedLive(
      "fails a request with NoResponders when nobody listens, RequestTimeout when nobody answers",
      () =>
        Effect.gen(function* () {
          const root = fresh()
          const open = yield* setup
          const a = yield* open
          const none = yield* Effect.flip(
            a.request(`${root}.group.1`, te.encode("x"), { timeout: "5 seconds" }),
          )
          expect(none._tag).toBe("NoResponders")
          const mute = yield* (yield* open).subscribe(`${root}.group.2`)
          const slow = yield* Effect.flip(
            a.request(`${root}.group.2`, te.encode("x"), { timeout: "300 millis" }),
          )
          expect(slow).toMatchObject({ _tag: "RequestTimeout", subject: `${root}.group.2` })
          expect(td.decode((yield* mute.take).data)).toBe("x")
        }),
    )

    it.scopedLive("stops delivering when a subscription's scope closes", () =>
      Effect.gen(function* () {
        const root = fresh()
        const open = yield* setup
        const a = yield* open
        const b = yield* open
        const scope = yield* Scope.make()
        yield* Bus.serve(`${root}.meta`, () => Effect.succeed(te.encode("leader"))).pipe(
          Effect.provideService(Bus.Bus, b),
          Scope.extend(scope),
        )
        expect(td.decode(yield* a.request(`${root}.meta`, te.encode(""), { timeout: "5 seconds" }))).toBe(
          "leader",
        )
        yield* Scope.close(scope, Exit.void)
        const outcome = yield* eventually(
          Effect.either(a.request(`${root}.meta`, te.encode(""), { timeout: "1 second" })),
          (r) => r._tag === "Left" && r.left._tag === "NoResponders",
          "NoResponders after unsubscribe",
        )
        expect(outcome._tag).toBe("Left")
      }),
    )

    it.scopedLive("refuses payloads above max_payload and invalid subjects before sending", () =>
      Effect.gen(function* () {
        const root = fresh()
        const open = yield* setup
        const a = yield* open
        const big = new Uint8Array(a.maxPayload() + 1)
        expect((yield* Effect.flip(a.publish(`${root}.x`, big)))._tag).toBe("PayloadTooLarge")
        expect((yield* Effect.flip(a.request(`${root}.x`, big, { timeout: "1 second" })))._tag).toBe(
          "PayloadTooLarge",
        )
        for (const subject of ["", `${root}.*`, `${root}.>`, `${root}..x`, `${root}.a b`])
          expect((yield* Effect.flip(a.publish(subject, te.encode("x"))))._tag).toBe("InvalidSubject")
        for (const subject of ["", `${root}.>.x`, `${root}..x`])
          expect((yield* Effect.flip(a.subscribe(subject)))._tag).toBe("InvalidSubject")
        const b = yield* open
        const sub = yield* b.subscribe(`${root}.big`)
        const pending = yield* Effect.fork(a.request(`${root}.big`, te.encode("x"), { timeout: "5 seconds" }))
        const msg = yield* sub.take
        expect((yield* Effect.flip(msg.respond(big)))._tag).toBe("PayloadTooLarge")
        expect(yield* msg.respond(te.encode("small"))).toBe(true)
        expect(td.decode(yield* Fiber.join(pending))).toBe("small")
      }),
    )

    it.scopedLive("fails with BusClosed once the client's scope has closed", () =>
      Effect.gen(function* () {
        const root = fresh()
        const open = yield* setup
        const scope = yield* Scope.make()
        const a = yield* open.pipe(Scope.extend(scope))
        yield* a.publish(`${root}.x`, te.encode("ok"))
        yield* Scope.close(scope, Exit.void)
        expect((yield* Effect.flip(a.publish(`${root}.x`, te.encode("late"))))._tag).toBe("BusClosed")
        expect(
          (yield* Effect.flip(a.request(`${root}.x`, te.encode("late"), { timeout: "1 second" })))._tag,
        ).toBe("BusClosed")
      }),
    )

    it.scopedLive("marks a plain publish as expecting no reply", () =>
      Effect.gen(function* () {
        const root = fresh()
        const open = yield* setup
        const a = yield* open
        const sub = yield* (yield* open).subscribe(`${root}.x`)
        yield* a.publish(`${root}.x`, te.encode("fire"))
        const msg = yield* sub.take
        expect(msg.reply).toBeUndefined()
        expect(yield* msg.respond(te.encode("nobody"))).toBe(false)
      }),
    )
  })
}
