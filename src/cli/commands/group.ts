/**
 * `flotilla group status|transfer-leader`: the Raft groups of a cluster. `status` shows one
 * group, or every group of a keyspace, with each replica's role, state, term, commit and
 * applied index (GroupStatus.ts); `transfer-leader` moves a group's leadership to a voter on
 * another node, an operator request (LeaderTransfer.ts). Each takes `--json`.
 *
 *   flotilla group status 3
 *   flotilla group status --keyspace kv
 *   flotilla group transfer-leader 3 --to 2
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { MAX_GROUP_ID, MAX_NODE_ID } from "../../raft/Ids.js"
import { clientFlags, routerLayer } from "../ClientFlags.js"
import { integerIn } from "../IntegerFlags.js"

// Imported when a command runs so that `--help` stays fast.
const lazy = Effect.promise(() =>
  Promise.all([
    import("../../client/Router.js"),
    import("../../transport/Bus.js"),
    import("../GroupStatus.js"),
    import("../LeaderTransfer.js"),
  ]),
)

const json = Options.boolean("json").pipe(Options.withDescription("print the answer as one JSON line"))
const groupText = `the group's id (0..${MAX_GROUP_ID}; 0 is the metadata group), as \`flotilla status\` shows it`

/** The group id argument, range-checked. */
const checkGroup = (group: number) =>
  Number.isSafeInteger(group) && group >= 0 && group <= MAX_GROUP_ID
    ? Effect.succeed(group)
    : Effect.fail(new Error(`group must be in 0..${MAX_GROUP_ID}, got ${group}`))

const status = Command.make(
  "status",
  {
    ...clientFlags,
    json,
    group: Args.integer({ name: "group" }).pipe(Args.withDescription(groupText), Args.optional),
    keyspace: Options.text("keyspace").pipe(
      Options.withDescription("show every group of this keyspace instead of one"),
      Options.optional,
    ),
  },
  (o) =>
    Effect.gen(function* () {
      if (Option.isSome(o.group) === Option.isSome(o.keyspace))
        return yield* Effect.fail(new Error("group status takes a GROUP or --keyspace NAME (one of them)"))
      const selection = Option.isSome(o.group)
        ? { group: yield* checkGroup(o.group.value) }
        : { keyspace: Option.getOrThrow(o.keyspace) }
      const [{ Router }, { Bus }, GroupStatus] = yield* lazy
      const report = yield* GroupStatus.gather(yield* Router, yield* Bus, selection)
      yield* Console.log(o.json ? JSON.stringify(report) : GroupStatus.render(report))
    }).pipe(Effect.provide(routerLayer(o))),
).pipe(
  Command.withDescription(
    "show a group's (or a keyspace's groups') replicas: role, leader, term, commit and applied index",
  ),
)

const transferLeader = Command.make(
  "transfer-leader",
  {
    ...clientFlags,
    json,
    group: Args.integer({ name: "group" }).pipe(Args.withDescription(groupText)),
    to: integerIn("to", 1, MAX_NODE_ID).pipe(
      Options.withDescription("the node whose voter should lead (it must hold a voter of the group)"),
    ),
  },
  (o) =>
    Effect.gen(function* () {
      const group = yield* checkGroup(o.group)
      const [{ Router }, { Bus }, , LeaderTransfer] = yield* lazy
      const r = yield* LeaderTransfer.transferLeader(yield* Router, yield* Bus, group, o.to, o.timeoutMs)
      yield* Console.log(
        o.json
          ? JSON.stringify(r)
          : r.already
            ? `group ${group}: node ${r.to} leads already (term ${r.term})`
            : `group ${group}: leadership moved from node ${r.from} to node ${r.to} (term ${r.term}) in ${r.ms} ms`,
      )
    }).pipe(Effect.provide(routerLayer(o))),
).pipe(
  Command.withDescription(
    "move a group's leadership to a voter on another node; waits up to --timeout-ms for it to lead",
  ),
)

/** `flotilla group`. */
export const group = Command.make("group").pipe(
  Command.withDescription("inspect the Raft groups of a cluster and move their leadership"),
  Command.withSubcommands([status, transferLeader]),
)
