import { CliConfig, Command, HelpDoc, Usage } from "@effect/cli"
import * as Descriptor from "@effect/cli/CommandDescriptor"
import { flotilla } from "../src/cli/Cli.js"
const walk = (d: any, depth = 0): void => {
  const pad = " ".repeat(depth)
  switch (d._tag) {
    case "Sequence": walk(d.left, depth); walk(d.right, depth); break
    case "Header": console.log(pad + "H:" + JSON.stringify(d.value)); break
    case "Paragraph": console.log(pad + "P:" + JSON.stringify(d.value).slice(0, 200)); break
    case "DescriptionList": for (const [s, b] of d.definitions) { console.log(pad + "DT:" + JSON.stringify(s).slice(0,300)); walk(b, depth + 2) } break
    case "Enumeration": for (const e of d.elements) { console.log(pad+"E:"); walk(e, depth+2) } break
  }
}
const subs = Command.getSubcommands(flotilla)
const ks: any = [...subs].find(([k]) => k === "keyspace")![1]
walk(Descriptor.getHelp(ks, CliConfig.defaultConfig))
const create: any = [...Descriptor.getSubcommands(ks)].find(([k]) => k === "create")![1]
walk(Descriptor.getHelp(create, CliConfig.defaultConfig))
console.log(JSON.stringify(Usage.enumerate(Descriptor.getUsage(create), CliConfig.defaultConfig)).slice(0,500))
