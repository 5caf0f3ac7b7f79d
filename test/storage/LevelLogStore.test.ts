/** The compliance suite and the model-based restart test against the LevelDB store. */
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as FaultyLogStore from "../../src/storage/FaultyLogStore.js"
import { complianceSuite } from "./compliance.js"
import type { BackendUnderTest } from "./harness.js"
import { modelRestartSuite } from "./model.js"

const level: BackendUnderTest = {
  name: "LevelDB",
  harness: () => {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-logstore-"))
    return {
      layer: FaultyLogStore.layerLevel(dir),
      location: dir,
      dispose: () => rmSync(dir, { recursive: true, force: true }),
      snapshotFiles: () => readdirSync(join(dir, "snapshots")).filter((f) => f.endsWith(".snap")).length,
    }
  },
}

complianceSuite(level)
modelRestartSuite(level, { runs: 25, commands: 40 })
