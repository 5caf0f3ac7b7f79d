/**
 * The dependency rule of docs/architecture.md, enforced over the import graph of `src`, `shards`
 * and `examples` (read with the TypeScript parser, test/tools/ImportGraph.ts):
 *
 * - every import points down the layer stack (LAYERS), and `src/storage` and `src/transport`
 *   never import each other;
 * - no import cycle between files, type-only imports included (`test/` is checked too);
 * - production code (everything but `src/testing`) never imports `src/testing`;
 * - `src/raft` is pure: no packages, no `node:*`, no clock, no randomness, no timers;
 * - `src/meta` and `src/placement` are pure: nothing they import, directly or through other
 *   files, is an I/O package, `src/storage`, `src/transport`, `src/node` or a runtime service
 *   module (one that declares a `Context.Tag` or builds a `Layer`); the pure contracts of
 *   `src/runtime` (errors, `StateMachine`, `ShardKind`, `EntityId`) are fine;
 * - shard state machines (`shards/`) import no I/O package.
 *
 * Run: `npm run deps` (part of `npm run check`; `test/architecture.test.ts` runs it in `npm test`).
 * Exit code 1 and one line per violation when the rule is broken.
 */
import { isBuiltin } from "node:module"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"
import {
  type Cycle,
  findCycles,
  type ImportEdge,
  type ImportGraph,
  isRelative,
  loadGraph,
} from "./ImportGraph.js"

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

/** The layered tree. */
const LAYERED = ["src", "shards", "examples"]
/** Checked for cycles only. */
const UNLAYERED = ["test"]

/** Same-rank layers that must stay independent of each other. */
const SIBLINGS_APART: ReadonlyArray<readonly [string, string]> = [["src/storage/", "src/transport/"]]

/** Layers that must import nothing impure, directly or transitively. */
const PURE_LAYERS = ["src/meta/", "src/placement/"]

/** Layers a pure layer may not reach at all. */
const IO_LAYERS = ["src/storage/", "src/transport/", "src/node/"]

/** Packages that do I/O: node built-ins, LevelDB, NATS, the Effect platform. */
const isIoPackage = (spec: string): boolean =>
  isBuiltin(spec) || /^(level|classic-level)$|^@nats-io\/|^@effect\/platform/.test(spec)

const layerOf = (path: string) => LAYERS.find((l) => path.startsWith(l.prefix))

/** `file:line` for messages. */
const at = (file: string, edge: ImportEdge) => `${file}:${edge.line}`

/**
 * What `src/raft` may not mention: clocks, randomness, timers, the process, `require`. Found in
 * the syntax tree, so comments and strings never count.
 */
export const impureInRaft = (
  source: ts.SourceFile,
): Array<{ readonly what: string; readonly line: number }> => {
  const found: Array<{ what: string; line: number }> = []
  const note = (what: string, node: ts.Node) =>
    found.push({ what, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1 })
  const timers = new Set(["setTimeout", "setInterval", "setImmediate", "queueMicrotask", "require"])
  const members = new Set(["Math.random", "Date.now", "performance.now"])
  const objects = new Set(["process", "crypto", "globalThis"])
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
      const name = `${node.expression.text}.${node.name.text}`
      if (members.has(name)) note(name, node)
      else if (objects.has(node.expression.text)) note(`${node.expression.text}.`, node)
    } else if (
      ts.isNewExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === "Date"
    )
      note("new Date", node)
    else if (
      ts.isCallExpression(node) &&
      ts.isIdentifier(node.expression) &&
      timers.has(node.expression.text)
    )
      note(node.expression.text, node)
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

/** Why a runtime module counts as a service module, or undefined for a pure contract module. */
const serviceMark = (source: ts.SourceFile): string | undefined => {
  let mark: string | undefined
  const visit = (node: ts.Node): void => {
    if (mark !== undefined) return
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
      const name = `${node.expression.text}.${node.name.text}`
      if (/^Context\.(Tag|GenericTag|Reference)$|^Effect\.Service$/.test(name))
        mark = `declares a service (${name})`
      else if (node.expression.text === "Layer") mark = `builds a Layer (${name})`
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return mark
}

/**
 * For a file, the shortest chain of imports that makes it impure in the sense of PURE_LAYERS,
 * from the file to the I/O package, I/O-layer file or runtime service module it reaches
 * (`undefined`: pure). Type-only imports count: a pure module does not name a service's types.
 */
const impurityOf = (graph: ImportGraph) => {
  const marks = new Map<string, string | undefined>()
  const markOf = (file: string) => {
    if (!marks.has(file)) marks.set(file, serviceMark(graph.get(file)!.source))
    return marks.get(file)
  }
  /** Why this import is impure by itself, or undefined when it depends on what the target imports. */
  const badness = (edge: ImportEdge): string | undefined => {
    const target = edge.target
    if (!isRelative(edge.spec)) return isIoPackage(edge.spec) ? `"${edge.spec}"` : undefined
    if (target === undefined) return undefined
    if (IO_LAYERS.some((l) => target.startsWith(l))) return target
    if (target.startsWith("src/runtime/") && graph.has(target)) {
      const mark = markOf(target)
      return mark === undefined ? undefined : `${target} (${mark})`
    }
    return undefined
  }
  return (file: string): ReadonlyArray<string> | undefined => {
    const previous = new Map<string, string>([[file, file]])
    const queue = [file]
    while (queue.length > 0) {
      const here = queue.shift()!
      for (const edge of graph.get(here)?.imports ?? []) {
        const bad = badness(edge)
        if (bad !== undefined) {
          const chain = [bad]
          for (let k = here; ; k = previous.get(k)!) {
            chain.unshift(k)
            if (k === file) return chain
          }
        }
        if (edge.target !== undefined && graph.has(edge.target) && !previous.has(edge.target)) {
          previous.set(edge.target, here)
          queue.push(edge.target)
        }
      }
    }
    return undefined
  }
}

/** One message per import cycle. */
const describeCycles = (cycles: ReadonlyArray<Cycle>): string[] =>
  cycles.map(
    (c) =>
      `import cycle: ${c.path.join(" -> ")}` +
      (c.files.length > c.path.length - 1 ? ` (the tangle holds ${c.files.join(", ")})` : ""),
  )

/** Checks the tree rooted at `root`; returns one message per violation. */
export const checkDependencies = (root: string): string[] => {
  const graph = loadGraph(root, [...LAYERED, ...UNLAYERED])
  const layered = [...graph.values()].filter((m) => LAYERED.some((top) => m.path.startsWith(`${top}/`)))
  const impurity = impurityOf(graph)
  const problems: string[] = []
  for (const { path: rel, source, imports } of layered) {
    const from = layerOf(rel)
    if (from === undefined) {
      problems.push(`${rel}: not in any layer of docs/architecture.md`)
      continue
    }
    if (from.prefix === "src/raft/")
      for (const { what, line } of impureInRaft(source))
        problems.push(`${rel}:${line}: src/raft must stay pure, found \`${what}\``)
    if (PURE_LAYERS.includes(from.prefix)) {
      const chain = impurity(rel)
      if (chain !== undefined)
        problems.push(`${rel}: ${from.prefix} must be pure, but imports ${chain.slice(1).join(" -> ")}`)
    }
    for (const edge of imports) {
      const { spec, target } = edge
      if (!isRelative(spec)) {
        if (from.prefix === "src/raft/") problems.push(`${at(rel, edge)}: src/raft imports package "${spec}"`)
        else if (from.prefix === "shards/" && isIoPackage(spec))
          problems.push(`${at(rel, edge)}: shards are pure state machines but import "${spec}"`)
        continue
      }
      if (target === undefined) {
        problems.push(`${at(rel, edge)}: imports "${spec}", which names no file`)
        continue
      }
      const to = layerOf(target)
      if (to === undefined) {
        problems.push(`${at(rel, edge)}: imports "${spec}" outside the layers`)
        continue
      }
      if (to.rank > from.rank) problems.push(`${at(rel, edge)}: imports upward into ${to.prefix} ("${spec}")`)
      if (to.prefix === "src/testing/" && from.prefix !== "src/testing/")
        problems.push(`${at(rel, edge)}: production code imports src/testing ("${spec}")`)
      for (const [a, b] of SIBLINGS_APART)
        if ((from.prefix === a && to.prefix === b) || (from.prefix === b && to.prefix === a))
          problems.push(`${at(rel, edge)}: ${from.prefix} and ${to.prefix} must not import each other`)
    }
  }
  problems.push(...describeCycles(findCycles(graph)))
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
