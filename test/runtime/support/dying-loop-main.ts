/**
 * A process with one supervised loop that dies at once, under the default `LoopExit` (the
 * production one): test/runtime/supervisor-process.test.ts checks how the process ends.
 * A second loop keeps the event loop busy, as a node's would.
 */
import { Effect } from "effect"
import { supervise } from "../../../src/runtime/Supervisor.js"

Effect.runFork(Effect.forever(Effect.sleep("1 second")))
Effect.runFork(
  supervise(
    "engine",
    Effect.zipRight(
      Effect.sleep("50 millis"),
      Effect.sync(() => {
        throw new RangeError("message from 3 is not on node 1 (the frame's from node)")
      }),
    ),
  ),
)
