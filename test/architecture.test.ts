import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { checkDependencies } from "./tools/check-deps.js"

describe("dependency rule", () => {
  it("holds for the whole tree", () => {
    expect(checkDependencies(join(import.meta.dirname, ".."))).toEqual([])
  })

  const root = mkdtempSync(join(tmpdir(), "flotilla-deps-"))
  afterAll(() => rmSync(root, { recursive: true, force: true }))
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), text)
  }

  it("reports impurity in src/raft, upward imports and sibling imports", () => {
    write("src/raft/a.ts", 'import { Effect } from "effect"\nexport const x = Math.random()\n')
    write("src/raft/b.ts", 'import { y } from "../runtime/r.js"\nexport const z = y\n')
    write("src/runtime/r.ts", "export const y = 1\n")
    write("src/storage/s.ts", 'export * from "../transport/t.js"\n')
    write("src/transport/t.ts", "// Date.now() in a comment is fine\nexport const t = 1\n")
    write("shards/kv/k.ts", 'import { readFileSync } from "node:fs"\nexport const k = readFileSync\n')
    const problems = checkDependencies(root)
    expect(problems.some((p) => p.includes("src/raft/a.ts") && p.includes('"effect"'))).toBe(true)
    expect(problems.some((p) => p.includes("src/raft/a.ts") && p.includes("Math.random"))).toBe(true)
    expect(problems.some((p) => p.includes("src/raft/b.ts") && p.includes("upward"))).toBe(true)
    expect(problems.some((p) => p.includes("src/storage/s.ts") && p.includes("must not import"))).toBe(true)
    expect(problems.some((p) => p.includes("shards/kv/k.ts") && p.includes("node:fs"))).toBe(true)
    expect(problems.some((p) => p.includes("src/transport/t.ts"))).toBe(false)
  })
})
