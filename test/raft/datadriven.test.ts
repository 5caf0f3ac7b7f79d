/**
 * The datadriven scenario files in test/raft/testdata, one folder per suite, each with its
 * commands in test/raft/datadriven (one file per command, etcd-io/raft's style):
 *
 * - `interaction/`: a fresh hand-driven cluster per file, driven command by command
 *   (datadriven/interaction);
 * - `quorum/`: committed indexes and election outcomes of majority and joint configurations
 *   (datadriven/quorum, src/raft/Quorum.ts);
 * - `confchange/`: configuration changes applied one after the other to a fresh tracker per
 *   file (datadriven/confchange, src/raft/Changer.ts).
 *
 * The output of each case is compared to the golden text in the file. Regenerate the goldens
 * with FLOTILLA_REWRITE=1 and review the diff.
 */
import { readdirSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import * as ConfChange from "./datadriven/confchange/index.js"
import * as Interaction from "./datadriven/interaction/index.js"
import * as Quorum from "./datadriven/quorum/index.js"
import { type Command, runFile } from "./support/datadriven.js"

const suites: ReadonlyArray<{ readonly dir: string; readonly runner: () => (cmd: Command) => string }> = [
  {
    dir: "interaction",
    runner: () => {
      const env = new Interaction.InteractionEnv()
      return (cmd) => Interaction.run(env, cmd)
    },
  },
  { dir: "quorum", runner: () => Quorum.run },
  {
    dir: "confchange",
    runner: () => {
      const env = new ConfChange.ConfChangeEnv()
      return (cmd) => ConfChange.run(env, cmd)
    },
  },
]

for (const { dir, runner } of suites) {
  const path = join(import.meta.dirname, "testdata", dir)
  const files = readdirSync(path)
    .filter((f) => f.endsWith(".txt"))
    .sort()

  describe(`datadriven ${dir}`, () => {
    it("has scenario files", () => {
      expect(files.length).toBeGreaterThan(0)
    })

    for (const file of files) {
      it(file, () => {
        const mismatches = runFile(join(path, file), runner())
        for (const m of mismatches) expect(m.got, `${dir}/${file}:${m.line}: ${m.raw}`).toBe(m.want)
      })
    }
  })
}
