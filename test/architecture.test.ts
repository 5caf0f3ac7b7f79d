import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import ts from "typescript"
import { afterAll, describe, expect, it } from "vitest"
import { checkDependencies, impureInRaft } from "./tools/check-deps.js"
import { findCycles, loadGraph, readImports } from "./tools/ImportGraph.js"

const roots: string[] = []
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true })
})

/** A fresh fixture tree holding `files` (path → text); returns its root. */
const tree = (files: Record<string, string>): string => {
  const root = mkdtempSync(join(tmpdir(), "flotilla-deps-"))
  roots.push(root)
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), text)
  }
  return root
}

/** The problems of a fixture tree. */
const check = (files: Record<string, string>) => checkDependencies(tree(files))

const has = (problems: ReadonlyArray<string>, ...parts: string[]) =>
  problems.some((p) => parts.every((part) => p.includes(part)))

describe("dependency rule", () => {
  it("holds for the whole tree", () => {
    expect(checkDependencies(join(import.meta.dirname, ".."))).toEqual([])
  })

  it("reports impurity in src/raft, upward imports and sibling imports", () => {
    const problems = check({
      "src/raft/a.ts": 'import { Effect } from "effect"\nexport const x = Math.random()\n',
      "src/raft/b.ts": 'import { y } from "../runtime/r.js"\nexport const z = y\n',
      "src/runtime/r.ts": "export const y = 1\n",
      "src/storage/s.ts": 'export * from "../transport/t.js"\n',
      "src/transport/t.ts": "// Date.now() in a comment is fine\nexport const t = 1\n",
      "shards/kv/k.ts": 'import { readFileSync } from "node:fs"\nexport const k = readFileSync\n',
    })
    expect(has(problems, "src/raft/a.ts:1", '"effect"')).toBe(true)
    expect(has(problems, "src/raft/a.ts:2", "Math.random")).toBe(true)
    expect(has(problems, "src/raft/b.ts:1", "upward into src/runtime/")).toBe(true)
    expect(has(problems, "src/storage/s.ts:1", "must not import each other")).toBe(true)
    expect(has(problems, "shards/kv/k.ts", '"node:fs"')).toBe(true)
    expect(has(problems, "src/transport/t.ts")).toBe(false)
  })

  it("finds clocks, randomness and timers in the syntax tree, not in comments or strings", () => {
    const found = (text: string) =>
      impureInRaft(ts.createSourceFile("x.ts", text, ts.ScriptTarget.Latest, true)).map((f) => f.what)
    expect(found("const a = Date.now()\nconst b = new Date()\nsetTimeout(() => {}, 1)\n")).toEqual([
      "Date.now",
      "new Date",
      "setTimeout",
    ])
    expect(found("const e = process.env.X\nconst u = crypto.randomUUID()\nqueueMicrotask(f)\n")).toEqual([
      "process.",
      "crypto.",
      "queueMicrotask",
    ])
    expect(
      found('// Math.random()\nconst s = "Date.now() and setTimeout(f)"\nconst o = { process: 1 }.process\n'),
    ).toEqual([])
  })

  it("reports a file outside the layers and an import of a missing file", () => {
    const problems = check({
      "src/extra/e.ts": "export const e = 1\n",
      "src/runtime/r.ts": 'import { gone } from "./gone.js"\nexport const r = gone\n',
    })
    expect(has(problems, "src/extra/e.ts", "not in any layer")).toBe(true)
    expect(has(problems, "src/runtime/r.ts:1", "names no file")).toBe(true)
  })

  it("reports import cycles, type-only imports included, naming the cycle", () => {
    const problems = check({
      "src/runtime/a.ts": 'import type { B } from "./b.js"\nexport type A = { b?: B }\n',
      "src/runtime/b.ts": 'import type { A } from "./a.js"\nexport type B = { a?: A }\n',
      "src/client/x.ts": 'export { y } from "./y.js"\nexport const x = 1\n',
      "src/client/y.ts": 'import { z } from "./z.js"\nexport const y = z\n',
      "src/client/z.ts": 'export const z = async () => (await import("./x.js")).x\n',
      // A diamond is no cycle.
      "src/meta/top.ts": 'import "./left.js"\nimport "./right.js"\n',
      "src/meta/left.ts": 'import "./bottom.js"\n',
      "src/meta/right.ts": 'import "./bottom.js"\n',
      "src/meta/bottom.ts": "export {}\n",
    })
    expect(problems).toContain("import cycle: src/runtime/a.ts -> src/runtime/b.ts -> src/runtime/a.ts")
    expect(problems).toContain(
      "import cycle: src/client/x.ts -> src/client/y.ts -> src/client/z.ts -> src/client/x.ts",
    )
    expect(has(problems, "src/meta/")).toBe(false)
  })

  it("names the whole tangle when a cycle's files hold more than one circle", () => {
    const graph = loadGraph(
      tree({
        "src/a.ts": 'import "./b.js"\nimport "./c.js"\n',
        "src/b.ts": 'import "./a.js"\n',
        "src/c.ts": 'import "./b.js"\n',
        "src/d.ts": 'import "./d.js"\n',
      }),
      ["src"],
    )
    expect(findCycles(graph)).toEqual([
      { files: ["src/a.ts", "src/b.ts", "src/c.ts"], path: ["src/a.ts", "src/b.ts", "src/a.ts"] },
      { files: ["src/d.ts"], path: ["src/d.ts", "src/d.ts"] },
    ])
  })

  it("reports production code that imports src/testing", () => {
    const problems = check({
      "src/testing/Sim.ts": 'import { h } from "./Helper.js"\nexport const sim = h\n',
      "src/testing/Helper.ts": "export const h = 1\n",
      "src/cli/dev.ts": 'import { sim } from "../testing/Sim.js"\nexport const dev = sim\n',
      "examples/app/main.ts": 'const m = await import("../../src/testing/Sim.js")\nexport const s = m.sim\n',
    })
    expect(has(problems, "src/cli/dev.ts:1", "production code imports src/testing")).toBe(true)
    expect(has(problems, "examples/app/main.ts:1", "production code imports src/testing")).toBe(true)
    expect(has(problems, "src/testing/Sim.ts")).toBe(false)
  })

  it("reports impure src/meta and src/placement with the chain that makes them so", () => {
    const problems = check({
      "src/runtime/RuntimeErrors.ts": 'import { Schema } from "effect"\nexport const E = Schema.String\n',
      "src/runtime/Contract.ts": 'import type { Svc } from "./Svc.js"\nexport type C = Svc\n',
      "src/runtime/Svc.ts":
        'import { Context } from "effect"\nexport class Svc extends Context.Tag("Svc")<Svc, {}>() {}\n',
      "src/runtime/Layers.ts": 'import { Layer } from "effect"\nexport const l = Layer.empty\n',
      "src/meta/Pure.ts": 'import { E } from "../runtime/RuntimeErrors.js"\nexport const p = E\n',
      "src/meta/ViaContract.ts": 'import type { C } from "../runtime/Contract.js"\nexport type V = C\n',
      "src/meta/Layered.ts": 'export * from "../runtime/Layers.js"\n',
      "src/meta/Files.ts": 'import { readFile } from "node:fs/promises"\nexport const f = readFile\n',
      "src/meta/Store.ts": 'import type { S } from "../storage/S.js"\nexport type T = S\n',
      "src/storage/S.ts": "export type S = number\n",
      "src/placement/Plan.ts": 'import { f } from "../meta/Files.js"\nexport const plan = f\n',
      "src/placement/Late.ts": 'export const late = () => import("@nats-io/transport-node")\n',
      "src/placement/Fine.ts": 'import { p } from "../meta/Pure.js"\nexport const fine = p\n',
    })
    const impure = (file: string) =>
      problems.find((p) => p.startsWith(`${file}: `) && p.includes("must be pure"))
    expect(impure("src/meta/Pure.ts")).toBeUndefined()
    expect(impure("src/placement/Fine.ts")).toBeUndefined()
    expect(impure("src/meta/ViaContract.ts")).toBe(
      "src/meta/ViaContract.ts: src/meta/ must be pure, but imports src/runtime/Contract.ts -> src/runtime/Svc.ts (declares a service (Context.Tag))",
    )
    expect(impure("src/meta/Layered.ts")).toContain("src/runtime/Layers.ts (builds a Layer (Layer.empty))")
    expect(impure("src/meta/Files.ts")).toContain('imports "node:fs/promises"')
    expect(impure("src/meta/Store.ts")).toContain("imports src/storage/S.ts")
    expect(impure("src/placement/Plan.ts")).toBe(
      'src/placement/Plan.ts: src/placement/ must be pure, but imports src/meta/Files.ts -> "node:fs/promises"',
    )
    expect(impure("src/placement/Late.ts")).toContain('"@nats-io/transport-node"')
  })
})

describe("import reader", () => {
  it("reads every kind of import, and which are type-only", () => {
    const source = ts.createSourceFile(
      "x.ts",
      [
        'import a from "./a.js"',
        'import type { B } from "./b.js"',
        'import { type C, d } from "./c.js"',
        'import { type E } from "./e.js"',
        'import "./side.js"',
        'export * from "./f.js"',
        'export type { G } from "./g.js"',
        'export * as H from "./h.js"',
        'const i = await import("./i.js")',
        'type J = typeof import("./j.js")',
        'import k = require("./k.js")',
        'const l = require("node:fs")',
        "const notAnImport = \"import x from './no.js'\"",
        "// import m from './m.js'",
      ].join("\n"),
      ts.ScriptTarget.Latest,
      true,
    )
    expect(readImports(source).map(({ spec, typeOnly, line }) => [spec, typeOnly, line])).toEqual([
      ["./a.js", false, 1],
      ["./b.js", true, 2],
      ["./c.js", false, 3],
      ["./e.js", true, 4],
      ["./side.js", false, 5],
      ["./f.js", false, 6],
      ["./g.js", true, 7],
      ["./h.js", false, 8],
      ["./i.js", false, 9],
      ["./j.js", true, 10],
      ["./k.js", false, 11],
      ["node:fs", false, 12],
    ])
  })
})
