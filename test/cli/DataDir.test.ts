/**
 * `--data-dir` checks: a file, a path under a file, a read-only file system and a permission
 * problem each get their own accurate line (a read-only file system never reads as ENOENT).
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { checkDataDir, explainCode } from "../../src/cli/DataDir.js"
import { runCli } from "./support/RunCli.js"

describe("data directory checks", () => {
  const root = mkdtempSync(join(tmpdir(), "flotilla-datadir-"))
  const file = join(root, "a-file")
  writeFileSync(file, "x")

  it("names a file, a path under a file, and creates a missing directory", () => {
    expect(checkDataDir(file)).toBe(`data directory ${file} is a file, not a directory`)
    expect(checkDataDir(join(file, "sub"))).toBe(
      `cannot create data directory ${join(file, "sub")}: a part of its path is a file, not a directory`,
    )
    expect(checkDataDir(join(root, "new", "dir"))).toBeUndefined()
  })

  it("explains read-only file systems and permissions as such", () => {
    expect(explainCode("EROFS", "x")).toBe("it is on a read-only file system")
    expect(explainCode("EACCES", "x")).toBe("permission denied")
    expect(explainCode("ENOENT", "no such file")).toBe("no such file")
  })

  it("dev refuses a bad data directory with one line, before starting anything", async () => {
    const r = await runCli("dev", "--data-dir", file, "--transport", "memory")
    expect(r.failure).toContain("is a file, not a directory")
    expect(r.out).not.toContain("stopped; the data is in")
    expect(r.out).not.toContain("starting cluster")
  })
})
