/**
 * Runs the datadriven scenario files in test/raft/testdata: each file is a fresh cluster driven
 * command by command (see support/interaction.ts for the commands), with the output compared
 * to the golden text in the file. Regenerate the goldens with FLOTILLA_REWRITE=1 and review
 * the diff.
 */
import { readdirSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { runFile } from "./support/datadriven.js"
import { Interaction } from "./support/interaction.js"

const dir = join(import.meta.dirname, "testdata")
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".txt"))
  .sort()

describe("datadriven scenarios", () => {
  it("has scenario files", () => {
    expect(files.length).toBeGreaterThan(0)
  })

  for (const file of files) {
    it(file, () => {
      const env = new Interaction()
      const mismatches = runFile(join(dir, file), (cmd) => env.run(cmd))
      for (const m of mismatches) {
        expect(m.got, `${file}:${m.line}: ${m.raw}`).toBe(m.want)
      }
    })
  }
})
