import { tmpdir } from "node:os"
import { join } from "node:path"
import { defineConfig } from "vitest/config"

// One place for the test runner's settings. The JSON report feeds `.ci/run`'s summary line.
export default defineConfig({
  root: join(import.meta.dirname, ".."),
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: [
      "default",
      [
        "json",
        { outputFile: process.env.FLOTILLA_TEST_REPORT ?? join(tmpdir(), "flotilla-vitest-report.json") },
      ],
    ],
  },
})
