/**
 * The nemesis from the command line: `npm run nemesis -- [--seconds 600] [--seed S] [--nodes 3]
 * [--clients 8] [--keys 24] [--faults kill,pause,natsrestart,leaderkill]` (and `flotilla nemesis`,
 * which runs this file: docs/decisions/0078-nemesis-runner-in-testing.md).
 *
 * Progress, the replay command and a violation's details go to stderr; the summary is one JSON
 * line on stdout. Exit code 0 when the run found no violation, 1 when it did, 2 for bad flags or a
 * cluster that could not be set up.
 */
import { runNemesis } from "./Nemesis.js"
import { parseNemesisArgs } from "./NemesisArgs.js"

const main = async (): Promise<number> => {
  const args = parseNemesisArgs(process.argv.slice(2), Math.floor(Math.random() * 2 ** 32))
  if ("error" in args) {
    process.stderr.write(`${args.error}\n`)
    return 2
  }
  try {
    const { summary, details } = await runNemesis({
      ...args,
      log: (line) => process.stderr.write(`${line}\n`),
    })
    for (const d of details) process.stderr.write(`${d}\n`)
    process.stdout.write(`${JSON.stringify(summary)}\n`)
    process.stderr.write(
      `${summary.passed ? "no violation" : "VIOLATION"}: seed ${summary.seed}; replay: ${summary.replay}\n`,
    )
    return summary.passed ? 0 : 1
  } catch (e) {
    process.stderr.write(
      `nemesis: the run could not be set up: ${e instanceof Error ? e.stack : String(e)}\n`,
    )
    return 2
  }
}

main().then((code) => process.exit(code))
