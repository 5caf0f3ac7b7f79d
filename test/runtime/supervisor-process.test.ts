/**
 * The production reaction to a dead loop (docs/decisions/0070), in a real child process: one
 * line `flotilla: loop <name> died: <cause>` on stderr and exit code 1, while another loop would
 * have kept the process alive.
 */
import { spawnSync } from "node:child_process"
import { describe, expect, it } from "vitest"

describe("a dead loop in a real process", () => {
  it("ends the process with exit code 1 and one line naming the loop and the cause", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "test/runtime/support/dying-loop-main.ts"], {
      encoding: "utf8",
      timeout: 60_000,
    })
    expect(r.status).toBe(1)
    const lines = r.stderr.split("\n").filter((l) => l.includes("loop ") && l.includes(" died:"))
    expect(lines).toEqual([
      "flotilla: loop engine died: RangeError: message from 3 is not on node 1 (the frame's from node)",
    ])
  })
})
