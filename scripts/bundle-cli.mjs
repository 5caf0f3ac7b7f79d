// The `flotilla` executable, `dist/bin/flotilla.mjs`: src/cli/main.ts bundled by esbuild (part
// of `npm run build`, after tsc). One bundle instead of tsc's ~300 files because Node 20 spends
// most of a short command's time resolving and compiling modules; the commands import their
// heavy modules on use, so `--help` loads only the command tree (docs/decisions/0075).
import { rmSync } from "node:fs"
import { build } from "esbuild"

// Chunk names carry a content hash: clear the last build's, or the package would ship them too.
rmSync("dist/bin", { recursive: true, force: true })

await build({
  entryPoints: { flotilla: "src/cli/main.ts" },
  outdir: "dist/bin",
  outExtension: { ".js": ".mjs" },
  bundle: true,
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  platform: "node",
  format: "esm",
  target: "node20",
  // Whitespace and syntax only: identifiers keep their names, so class and function names stay
  // (error lines and logs print them) without `keepNames`, whose wrapper renames every closure
  // as it is created, in Effect's hot paths too (decision 0131).
  minifyWhitespace: true,
  minifySyntax: true,
  minifyIdentifiers: false,
  // LevelDB's native binding is found through its package, next to ours in node_modules.
  external: ["level", "classic-level"],
  // Bundled CommonJS dependencies call require(): give each ES module chunk one.
  banner: {
    js: 'import { createRequire as __flotillaCreateRequire } from "node:module"; const require = __flotillaCreateRequire(import.meta.url);',
  },
  logLevel: "warning",
})
