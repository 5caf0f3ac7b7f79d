/**
 * The dependency rule of docs/architecture.md, enforced: every import in `src`, `shards` and
 * `examples` points down the layer stack, `storage` and `transport` never import each other,
 * and `src/raft` is pure (no packages, no `node:*`, no clock, no randomness, no timers).
 *
 * Run: `npm run deps` (part of `npm run check`; `test/architecture.test.ts` runs it in `npm test`).
 * Exit code 1 and one line per violation when the rule is broken.
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative, resolve, sep } from "node:path"
import { fileURLToPath } from "node:url"

/** Layers from the bottom up; a module may import its own layer or any lower one. */
export const LAYERS: ReadonlyArray<{ readonly prefix: string; readonly rank: number }> = [
  { prefix: "src/raft/", rank: 0 },
  { prefix: "src/storage/", rank: 1 },
  { prefix: "src/transport/", rank: 1 },
  { prefix: "src/runtime/", rank: 2 },
  { prefix: "src/meta/", rank: 3 },
  { prefix: "src/placement/", rank: 4 },
  { prefix: "shards/", rank: 5 },
  { prefix: "src/client/", rank: 6 },
  { prefix: "src/node/", rank: 7 },
  { prefix: "src/testing/", rank: 8 },
  { prefix: "src/cli/", rank: 9 },
  { prefix: "examples/", rank: 10 },
]

/** Same-rank layers that must stay independent of each other. */
const SIBLINGS_APART: ReadonlyArray<readonly [string, string]> = [["src/storage/", "src/transport/"]]

/** What `src/raft` may not mention at all: I/O, clocks, randomness, timers. */
const IMPURE_IN_RAFT =
  /\b(Date\s*\.\s*now|new\s+Date|Math\s*\.\s*random|setTimeout|setInterval|setImmediate|performance\s*\.\s*now|process\s*\.|require\s*\(|crypto\s*\.|queueMicrotask)\b/

/** Packages a pure shard state machine may not import. */
const IMPURE_PACKAGES = /^(node:|fs$|net$|child_process$|level$|classic-level$|@nats-io\/|@effect\/platform)/

const IMPORT_RE =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^"';]*?\sfrom\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g

const layerOf = (path: string) => LAYERS.find((l) => path.startsWith(l.prefix))

const stripComments = (source: string) =>
  source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1")

function* sourceFiles(dir: string): Generator<string> {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return
  }
  for (const name of names) {
    if (name === "node_modules") continue
    const full = join(dir, name)
    if (statSync(full).isDirectory()) yield* sourceFiles(full)
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith(".d.ts")) yield full
  }
}

/** Checks the tree rooted at `root`; returns one message per violation. */
export const checkDependencies = (root: string): string[] => {
  const problems: string[] = []
  for (const top of ["src", "shards", "examples"]) {
    for (const file of sourceFiles(join(root, top))) {
      const rel = relative(root, file).split(sep).join("/")
      const from = layerOf(rel)
      if (from === undefined) {
        problems.push(`${rel}: not in any layer of docs/architecture.md`)
        continue
      }
      const source = stripComments(readFileSync(file, "utf8"))
      if (from.prefix === "src/raft/") {
        const impure = IMPURE_IN_RAFT.exec(source)
        if (impure) problems.push(`${rel}: src/raft must stay pure, found \`${impure[1]}\``)
      }
      for (const match of source.matchAll(IMPORT_RE)) {
        const spec = (match[1] ?? match[2])!
        if (!spec.startsWith(".")) {
          if (from.prefix === "src/raft/") problems.push(`${rel}: src/raft imports package "${spec}"`)
          else if (from.prefix === "shards/" && IMPURE_PACKAGES.test(spec))
            problems.push(`${rel}: shards are pure state machines but import "${spec}"`)
          continue
        }
        const target = relative(root, resolve(dirname(file), spec))
          .split(sep)
          .join("/")
        const to = layerOf(target.endsWith("/") ? target : `${target}`)
        if (to === undefined) {
          problems.push(`${rel}: imports "${spec}" outside the layers`)
          continue
        }
        if (to.rank > from.rank) problems.push(`${rel}: imports upward into ${to.prefix} ("${spec}")`)
        for (const [a, b] of SIBLINGS_APART) {
          if ((from.prefix === a && to.prefix === b) || (from.prefix === b && to.prefix === a))
            problems.push(`${rel}: ${from.prefix} and ${to.prefix} must not import each other`)
        }
      }
    }
  }
  return problems
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (isMain) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..")
  const problems = checkDependencies(root)
  for (const p of problems) console.error(p)
  if (problems.length > 0) {
    console.error(`dependency rule: ${problems.length} violation(s)`)
    process.exit(1)
  }
  console.log("dependency rule: ok")
}
