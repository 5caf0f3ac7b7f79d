/**
 * `flotilla inspect DATA_DIR`: what a STOPPED node's data directory holds, read without changing
 * anything (src/storage/StoreInspection.ts): identity, every group's hard state, configuration,
 * log range, snapshot and sizes, with every record's checksum verified. Exits non-zero when a
 * record fails its check, after printing the report.
 *
 *   flotilla inspect ./data/node-1
 *   flotilla inspect ./data/node-1 --group 0 --entries 1..20     # decode entries, with summaries
 *   flotilla inspect ./data/node-1 --json
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Either, Option } from "effect"
import * as NodeIdentity from "../../node/NodeIdentity.js"
import { GroupId, MAX_GROUP_ID } from "../../raft/Ids.js"
import * as GroupCatalog from "../../runtime/GroupCatalog.js"
import { inspectStore } from "../../storage/StoreInspection.js"
import { type IdentityView, inspectJson, inspectText } from "../InspectReport.js"
import { integerIn } from "../IntegerFlags.js"

/** Most entries one `--entries` range may decode. */
export const MAX_ENTRIES = 10_000

const dir = Args.text({ name: "data-dir" }).pipe(
  Args.withDescription("the data directory of a stopped node (`flotilla start --data-dir`, or dev's node-N)"),
)
const json = Options.boolean("json").pipe(Options.withDescription("print the report as one JSON document"))
const group = integerIn("group", 0, MAX_GROUP_ID).pipe(
  Options.withDescription("show only this group, with its log floor, snapshot file and conf changes"),
  Options.optional,
)
const entries = Options.text("entries").pipe(
  Options.withDescription(`decode the entries A..B of --group (at most ${MAX_ENTRIES})`),
  Options.optional,
)

/** `A..B` as a range, or why not. */
export const parseRange = (text: string): Either.Either<{ from: number; to: number }, string> => {
  const m = /^(\d+)\.\.(\d+)$/.exec(text.trim())
  const from = Number(m?.[1])
  const to = Number(m?.[2])
  if (m === null || !Number.isSafeInteger(from) || !Number.isSafeInteger(to))
    return Either.left(`--entries must be a range A..B of log indexes, got "${text}"`)
  if (from < 1 || from > to) return Either.left(`--entries ${text}: need 1 <= A <= B`)
  if (to - from + 1 > MAX_ENTRIES)
    return Either.left(`--entries ${text}: at most ${MAX_ENTRIES} entries at a time`)
  return Either.right({ from, to })
}

const readIdentity = (dataDir: string): Effect.Effect<IdentityView> =>
  NodeIdentity.read(dataDir).pipe(
    Effect.map(
      Option.match({
        onNone: (): IdentityView => undefined,
        onSome: (f) => ({ cluster: f.cluster, node: f.node, bootstrapped: f.bootstrapped }),
      }),
    ),
    Effect.catchAll((e) => Effect.succeed<IdentityView>({ error: e.message })),
  )

/** `flotilla inspect`. */
export const inspect = Command.make("inspect", { dir, json, group, entries }, (o) =>
  Effect.gen(function* () {
    const groupId = Option.getOrUndefined(o.group)
    let range: { from: number; to: number } | undefined
    if (Option.isSome(o.entries)) {
      if (groupId === undefined) return yield* Effect.fail(new Error("--entries needs --group N"))
      range = yield* Effect.mapError(parseRange(o.entries.value), (m) => new Error(m))
    }
    const store = yield* inspectStore(o.dir, {
      selection: range === undefined ? undefined : { group: GroupId(groupId!), ...range },
    }).pipe(Effect.mapError((e) => new Error(e.message)))
    const identity = yield* readIdentity(store.dir)
    const kinds = yield* GroupCatalog.readFile(store.dir).pipe(
      Effect.catchAll(() => Effect.succeed(new Map<number, string>())),
    )
    const report = { store, identity, kinds, group: groupId, entries: range }
    yield* Console.log(o.json ? inspectJson(report) : inspectText(report))
    if (store.problems.length > 0)
      return yield* Effect.fail(
        new Error(`${store.dir}: ${store.problems.length} record(s) failed their check (listed above)`),
      )
  }),
).pipe(Command.withDescription("show what a stopped node's data directory holds, verifying every record"))
