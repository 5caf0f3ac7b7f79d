import { Command, CliConfig, HelpDoc } from "@effect/cli"
import { flotilla } from "../src/cli/Cli.ts"
const h = Command.getHelp(flotilla, CliConfig.defaultConfig)
console.log(JSON.stringify(h, null, 1).slice(0, 3000))
const subs = Command.getSubcommands(flotilla)
console.log([...subs].map(([k]) => k))
