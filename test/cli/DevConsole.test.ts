/**
 * The dev console: words split as a shell splits them, extra words refused with the usage,
 * `(no keys)` for an empty scan, and `more` paging through a long one; over a real KV client on
 * an in-process cluster.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import { Kv } from "../../shards/kv/Kv.js"
import { type ConsoleSession, handleLine, PAGE, splitWords } from "../../src/cli/DevConsole.js"
import { KvClient, layer as kvLayer } from "../../src/client/KvClient.js"
import * as Router from "../../src/client/Router.js"
import * as MemoryCluster from "../client/support/MemoryCluster.js"
import { capture } from "./support/RunCli.js"

describe("splitWords", () => {
  it("splits as a shell: quotes, escapes, empty words", () => {
    expect(splitWords(`put "quoted key" 'a value'`)).toEqual(["put", "quoted key", "a value"])
    expect(splitWords(`put a\\ b "x \\"y\\"" ''`)).toEqual(["put", "a b", 'x "y"', ""])
    expect(splitWords(`  get   k  `)).toEqual(["get", "k"])
    expect(splitWords(`put 'it''s' x`)).toEqual(["put", "its", "x"])
    expect(splitWords(`put "open`)).toEqual({ error: 'unterminated " quote' })
    expect(splitWords("")).toEqual([])
  })
})

describe("dev console", () => {
  it.live(
    "stores quoted keys, refuses extra words, says (no keys) and pages with more",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* MemoryCluster.make({ kinds: [Kv] })
          const router = Router.layer({ cluster: cluster.cluster }).pipe(Layer.provide(cluster.clientBus))
          const kv = Context.get(yield* Layer.build(kvLayer.pipe(Layer.provide(router))), KvClient)
          const status = Effect.succeed("ok")
          const session: ConsoleSession = {}
          const say = (line: string) =>
            Effect.gen(function* () {
              const { console, out } = capture()
              yield* handleLine(kv, status, line, session).pipe(Effect.withConsole(console))
              return out.join("\n")
            })

          expect(yield* say("scan")).toBe("(no keys)")
          expect(yield* say(`put "quoted key" "a value"`)).toBe("created")
          expect(Option.map(yield* kv.get("quoted key"), (v) => new TextDecoder().decode(v))).toEqual(
            Option.some("a value"),
          )
          expect(yield* say(`get "quoted key"`)).toBe("a value")
          expect(yield* say("put a b c")).toBe("usage: put <key> <value>")
          expect(yield* say("get a b")).toBe("usage: get <key>")
          expect(yield* say("del")).toBe("usage: del <key>")
          expect(yield* say(`get "open`)).toBe('error: unterminated " quote')
          expect(yield* say("more")).toBe("(nothing more: scan first)")
          yield* say(`del "quoted key"`)

          const total = PAGE + 7
          for (let i = 0; i < total; i++) yield* kv.put(`k${String(i).padStart(3, "0")}`, `v${i}`)
          const first = (yield* say("scan k")).split("\n")
          expect(first).toHaveLength(PAGE + 1)
          expect(first.at(-1)).toContain("more")
          const second = (yield* say("more")).split("\n")
          expect(second).toHaveLength(total - PAGE)
          const keys = [...first.slice(0, PAGE), ...second].map((l) => l.split("\t")[0])
          expect(new Set(keys).size).toBe(total)
          expect(yield* say("more")).toBe("(nothing more: scan first)")
        }),
      ),
    120_000,
  )
})
