/** The compliance suite and the model-based restart test against the in-memory store. */
import * as FaultyLogStore from "../../src/storage/FaultyLogStore.js"
import { MemoryDisk } from "../../src/storage/MemoryLogStore.js"
import { complianceSuite } from "./compliance.js"
import type { BackendUnderTest } from "./harness.js"
import { modelRestartSuite } from "./model.js"

const memory: BackendUnderTest = {
  name: "memory",
  harness: () => {
    const disk = new MemoryDisk("memory-disk-under-test")
    return {
      layer: FaultyLogStore.layerMemory(disk),
      location: disk.name,
      dispose: () => {},
      snapshotFiles: () => disk.files.size,
    }
  },
}

complianceSuite(memory)
modelRestartSuite(memory, { runs: 60, commands: 40 })
