/**
 * How the store names a file-system or LevelDB failure (src/storage/internal/IoErrors.ts): a
 * lock held elsewhere, a full disk or quota, a read-only file system, a permission, a missing
 * path, each recognised from Node's error codes and from LevelDB's POSIX text, also when it is
 * the cause of another error; what is left is a failed open, read or write. Most of these only
 * happen on a real disk in trouble, so they are fed here by hand.
 */
import { describe, expect, it } from "vitest"
import { classifyIoError } from "../../src/storage/internal/IoErrors.js"
import { DiskFull, WriteFailed } from "../../src/storage/StoreErrors.js"

const dir = "/data/n1"

/** A Node file-system error with its code. */
const nodeError = (code: string, message: string) => Object.assign(new Error(`${code}: ${message}`), { code })

/** A LevelDB error: a generic one whose cause carries LevelDB's text. */
const levelError = (text: string) =>
  Object.assign(new Error("Database failed to open"), {
    code: "LEVEL_DATABASE_NOT_OPEN",
    cause: new Error(text),
  })

describe("classifyIoError", () => {
  it("recognises each failure from a Node code and from LevelDB's text", () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [levelError("IO error: lock /data/n1/LOCK: already held by process"), "StoreLocked", /is locked/],
      [nodeError("ENOSPC", "no space left on device, write"), "DiskFull", /ENOSPC/],
      [levelError("IO error: /data/n1/000005.log: No space left on device"), "DiskFull", /No space left/],
      [nodeError("EDQUOT", "disk quota exceeded"), "DiskFull", /EDQUOT/],
      [nodeError("EROFS", "read-only file system, open"), "StoreUnavailable", /the file system is read-only/],
      [levelError("IO error: /data/n1/LOCK: Read-only file system"), "StoreUnavailable", /read-only/],
      [nodeError("EACCES", "permission denied, open"), "StoreUnavailable", /permission denied \(EACCES/],
      [levelError("IO error: /data/n1/LOCK: Permission denied"), "StoreUnavailable", /permission denied/],
      [
        nodeError("ENOTDIR", "not a directory, mkdir"),
        "StoreUnavailable",
        /a path component is not a directory/,
      ],
      [
        nodeError("ENOENT", "no such file or directory, open"),
        "StoreUnavailable",
        /a file or directory is missing/,
      ],
    ]
    for (const [error, tag, message] of cases) {
      const e = classifyIoError(dir, error, "open")
      expect(e._tag, String(error)).toBe(tag)
      expect(e.message, String(error)).toMatch(message)
    }
  })

  it("falls back by phase: an open or a read makes the store unavailable, a write failed", () => {
    const odd = new Error("IO error: something else")
    expect(classifyIoError(dir, odd, "open")).toMatchObject({
      _tag: "StoreUnavailable",
      reason: "IO error: something else",
    })
    expect(classifyIoError(dir, odd, "read")).toMatchObject({
      _tag: "StoreUnavailable",
      reason: "read failed (IO error: something else)",
    })
    expect(classifyIoError(dir, odd, "write")).toMatchObject({
      _tag: "WriteFailed",
      reason: "IO error: something else",
    })
    // A file missing during a write is a failed write, not a missing store.
    expect(classifyIoError(dir, nodeError("ENOENT", "no such file"), "write")._tag).toBe("WriteFailed")
    expect(classifyIoError(dir, "a thrown string", "write")).toMatchObject({ reason: "a thrown string" })
  })

  it("keeps a store error as it is", () => {
    const full = new DiskFull({ dir, detail: "ENOSPC" })
    expect(classifyIoError(dir, full, "write")).toBe(full)
    const failed = new WriteFailed({ dir: "/other", reason: "x" })
    expect(classifyIoError(dir, failed, "open")).toBe(failed)
  })
})
