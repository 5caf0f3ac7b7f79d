#!/usr/bin/env node
// The `flotilla` executable (package.json `bin`): runs src/cli/main.ts through tsx, which the
// project installs, so `npx flotilla <command>` works in a checkout without a build step.
import { register } from "tsx/esm/api"

register()
await import("./main.ts")
