/**
 * Which test files run real processes: the `process` project of test/vitest.config.ts. A test
 * file belongs here when it starts a nats-server, a node process or any child process; every
 * other test file runs in one process, in the `unit` project (`npm run test:unit`).
 * test/layout.test.ts keeps this list true to the files (`PROCESS_MARKERS`).
 */

/** The real-process test files, relative to the project root. */
export const processTests: ReadonlyArray<string> = [
  "test/cli/Dev.test.ts",
  "test/cli/GroupAdmin.test.ts",
  "test/cli/Security.test.ts",
  "test/cli/SecurityTls.test.ts",
  "test/cli/StartEmbedded.test.ts",
  "test/cli/StartStop.test.ts",
  "test/client/Process.test.ts",
  "test/client/WatchProcess.test.ts",
  "test/examples/NatsClient.test.ts",
  "test/nemesis/Nemesis.test.ts",
  "test/node/Dashboard.test.ts",
  "test/node/NodeHttp.test.ts",
  "test/placement/process-placement.test.ts",
  "test/runtime/cluster-process.test.ts",
  "test/runtime/store-failure.test.ts",
  "test/runtime/supervisor-process.test.ts",
  "test/runtime/transport-receive-death.test.ts",
  "test/storage/Crash.test.ts",
  "test/storage/LevelDisk.test.ts",
  "test/transport/Bus.test.ts",
  "test/transport/NatsConnection.test.ts",
  "test/transport/NatsServer.test.ts",
  "test/transport/NatsTransport.test.ts",
]

/** What a test file that starts processes mentions: the launchers and `node:child_process`. */
export const PROCESS_MARKERS =
  /\b(?:startNatsServer|NatsServer|ProcessCluster|NodeProcess)\b|node:child_process/
