/**
 * The test layout: the `process` project (test/projects.ts) holds exactly the test files that
 * start processes, so `npm run test:unit` stays in one process.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { describe, expect, it } from "vitest"
import { PROCESS_MARKERS, processTests } from "./projects.js"

const root = join(import.meta.dirname, "..")

const testFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return testFiles(path)
    return e.name.endsWith(".test.ts") ? [relative(root, path)] : []
  })

describe("test layout", () => {
  it("the process project lists exactly the test files that start processes", () => {
    // This file names the markers without starting anything.
    const starting = testFiles(join(root, "test"))
      .filter((f) => f !== "test/layout.test.ts" && PROCESS_MARKERS.test(readFileSync(join(root, f), "utf8")))
      .sort()
    expect(starting).toEqual([...processTests].sort())
  })

  it("recognises what starts a process", () => {
    expect(PROCESS_MARKERS.test('import { spawn } from "node:child_process"')).toBe(true)
    expect(PROCESS_MARKERS.test("const c = await ProcessCluster.start({ nodes: 3 })")).toBe(true)
    expect(PROCESS_MARKERS.test("const s = await startNatsServer()")).toBe(true)
    expect(PROCESS_MARKERS.test("RuntimeSim.run({ seed, nodes: 3 }, body)")).toBe(false)
  })
})
