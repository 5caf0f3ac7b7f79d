import { tmpdir } from "node:os"
import { join } from "node:path"
import { configDefaults, defineConfig } from "vitest/config"
import { processTests } from "./projects.js"

// One place for the test runner's settings. Two projects: `unit` (everything in one process,
// `npm run test:unit`) and `process` (tests that start nats-server, node or child processes:
// test/projects.ts). `npm test` runs both. The JSON report feeds `.ci/run`'s summary line.
export default defineConfig({
  root: join(import.meta.dirname, ".."),
  test: {
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
    // `npm run coverage`: V8 coverage of the code the test processes run (not of the child
    // processes the `process` tests start), summed per folder by test/tools/coverage-by-folder.ts.
    coverage: {
      provider: "v8",
      include: ["src/**/*.ts", "shards/**/*.ts"],
      reporter: ["text-summary", "json-summary"],
      reportsDirectory: "coverage",
    },
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, ...processTests],
        },
      },
      { extends: true, test: { name: "process", include: [...processTests] } },
    ],
  },
})
