/**
 * The import graph of a source tree, read with the TypeScript compiler's parser (no type
 * checking, no tsconfig): every `import`, `import type`, `export ... from`, dynamic `import()`,
 * `import("x")` in a type, `import x = require("x")` and `require("x")` of every file, with
 * relative specifiers resolved to project files the way NodeNext resolves them (`./a.js` is
 * `./a.ts` on disk). `check-deps.ts` states the rules over this graph.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative, resolve, sep } from "node:path"
import ts from "typescript"

/** One import of a file. */
export interface ImportEdge {
  /** The specifier as written. */
  readonly spec: string
  /** `import type`, `export type ... from`, an import whose every name is `type`, or `import("x")` in a type. */
  readonly typeOnly: boolean
  /** 1-based line of the import. */
  readonly line: number
  /** The project file it names (root-relative, `/`-separated); undefined for packages and missing files. */
  readonly target: string | undefined
}

/** A parsed file of the tree. */
export interface SourceModule {
  /** Root-relative, `/`-separated. */
  readonly path: string
  readonly source: ts.SourceFile
  readonly imports: ReadonlyArray<ImportEdge>
}

/** Files by root-relative path. */
export type ImportGraph = ReadonlyMap<string, SourceModule>

const CODE = /\.(ts|mts|cts|tsx|js|mjs|cjs)$/

/** True for specifiers that name a file (`./x`, `../x`), false for packages and `node:*`. */
export const isRelative = (spec: string): boolean => spec.startsWith("./") || spec.startsWith("../")

function* codeFiles(dir: string): Generator<string> {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return
  }
  for (const name of names.sort()) {
    if (name === "node_modules") continue
    const full = join(dir, name)
    if (statSync(full).isDirectory()) yield* codeFiles(full)
    else if (CODE.test(name) && !/\.d\.[mc]?ts$/.test(name)) yield full
  }
}

const toRel = (root: string, abs: string) => relative(root, abs).split(sep).join("/")

/** The file a relative specifier names: `.js` → `.ts`, `.mjs` → `.mts`, extensionless → `.ts` or `/index.ts`. */
export const resolveSpecifier = (root: string, fromRel: string, spec: string): string | undefined => {
  const base = resolve(root, dirname(fromRel), spec)
  const candidates = [
    base.replace(/\.js$/, ".ts"),
    base.replace(/\.js$/, ".tsx"),
    base.replace(/\.mjs$/, ".mts"),
    base.replace(/\.cjs$/, ".cts"),
    `${base}.ts`,
    join(base, "index.ts"),
    base,
  ]
  for (const c of candidates) if (existsSync(c) && statSync(c).isFile()) return toRel(root, c)
  return undefined
}

const stringArg = (call: ts.CallExpression): string | undefined => {
  const a = call.arguments[0]
  return a !== undefined && ts.isStringLiteralLike(a) ? a.text : undefined
}

/** Every import of one parsed file, unresolved. */
export const readImports = (
  source: ts.SourceFile,
): Array<{ spec: string; typeOnly: boolean; line: number }> => {
  const out: Array<{ spec: string; typeOnly: boolean; line: number }> = []
  const add = (spec: string, typeOnly: boolean, node: ts.Node) =>
    out.push({ spec, typeOnly, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1 })
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteralLike(node.moduleSpecifier)) {
      const clause = node.importClause
      const named = clause?.namedBindings
      const allNamesTyped =
        clause !== undefined &&
        clause.name === undefined &&
        named !== undefined &&
        ts.isNamedImports(named) &&
        named.elements.length > 0 &&
        named.elements.every((e) => e.isTypeOnly)
      add(node.moduleSpecifier.text, clause?.isTypeOnly === true || allNamesTyped, node)
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteralLike(node.moduleSpecifier)
    ) {
      const named = node.exportClause
      const allNamesTyped =
        named !== undefined &&
        ts.isNamedExports(named) &&
        named.elements.length > 0 &&
        named.elements.every((e) => e.isTypeOnly)
      add(node.moduleSpecifier.text, node.isTypeOnly || allNamesTyped, node)
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteralLike(node.moduleReference.expression)
    ) {
      add(node.moduleReference.expression.text, node.isTypeOnly, node)
    } else if (ts.isCallExpression(node)) {
      const spec = stringArg(node)
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === "require"
      if (spec !== undefined && (isImport || isRequire)) add(spec, false, node)
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteralLike(node.argument.literal)
    ) {
      add(node.argument.literal.text, true, node)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return out
}

/** Parses one file of the tree. */
export const parseFile = (root: string, rel: string): SourceModule => {
  const text = readFileSync(join(root, rel), "utf8")
  const kind = /\.(js|mjs|cjs)$/.test(rel)
    ? ts.ScriptKind.JS
    : /x$/.test(rel)
      ? ts.ScriptKind.TSX
      : ts.ScriptKind.TS
  const source = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true, kind)
  const imports = readImports(source).map((i) => ({
    ...i,
    target: isRelative(i.spec) ? resolveSpecifier(root, rel, i.spec) : undefined,
  }))
  return { path: rel, source, imports }
}

/** Parses every code file under the given top-level directories of `root`. */
export const loadGraph = (root: string, tops: ReadonlyArray<string>): ImportGraph => {
  const graph = new Map<string, SourceModule>()
  for (const top of tops)
    for (const file of codeFiles(join(root, top))) {
      const rel = toRel(root, file)
      graph.set(rel, parseFile(root, rel))
    }
  return graph
}

/** Files that import each other in a circle, directly or through others. */
export interface Cycle {
  /** Every file of the tangle (a strongly connected component of the graph), sorted. */
  readonly files: ReadonlyArray<string>
  /** One shortest circle through its first file, e.g. `[a.ts, b.ts, a.ts]`. */
  readonly path: ReadonlyArray<string>
}

/**
 * The import cycles of the graph, type-only imports included: one per strongly connected
 * component of more than one file, or a file that imports itself.
 */
export const findCycles = (graph: ImportGraph): Cycle[] => {
  const next = (path: string): string[] =>
    [
      ...new Set(
        graph.get(path)?.imports.flatMap((i) => (i.target && graph.has(i.target) ? [i.target] : [])),
      ),
    ].sort()
  // Tarjan's strongly connected components, iteratively (deep chains would overflow the stack).
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const onStack = new Set<string>()
  const stack: string[] = []
  const components: string[][] = []
  let counter = 0
  for (const start of [...graph.keys()].sort()) {
    if (index.has(start)) continue
    const work: Array<{ node: string; edges: string[]; at: number }> = []
    const open = (node: string) => {
      index.set(node, counter)
      low.set(node, counter++)
      stack.push(node)
      onStack.add(node)
      work.push({ node, edges: next(node), at: 0 })
    }
    open(start)
    while (work.length > 0) {
      const top = work[work.length - 1]!
      if (top.at < top.edges.length) {
        const to = top.edges[top.at++]!
        if (!index.has(to)) open(to)
        else if (onStack.has(to)) low.set(top.node, Math.min(low.get(top.node)!, index.get(to)!))
        continue
      }
      work.pop()
      const parent = work[work.length - 1]
      if (parent !== undefined) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(top.node)!))
      if (low.get(top.node) === index.get(top.node)) {
        const component: string[] = []
        for (;;) {
          const n = stack.pop()!
          onStack.delete(n)
          component.push(n)
          if (n === top.node) break
        }
        if (component.length > 1 || next(top.node).includes(top.node)) components.push(component.sort())
      }
    }
  }
  // Within each component, the shortest way from its first file back to itself.
  return components.map((component) => {
    const members = new Set(component)
    const first = component[0]!
    const previous = new Map<string, string>()
    const queue = [first]
    while (queue.length > 0) {
      const n = queue.shift()!
      for (const to of next(n)) {
        if (!members.has(to)) continue
        if (to === first) {
          const chain: string[] = []
          for (let k = n; k !== first; k = previous.get(k)!) chain.unshift(k)
          return { files: component, path: [first, ...chain, first] }
        }
        if (!previous.has(to) && to !== first) {
          previous.set(to, n)
          queue.push(to)
        }
      }
    }
    throw new Error(`no circle through ${first} in its own component`)
  })
}
