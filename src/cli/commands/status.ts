/**
 * `flotilla status`: a table of the cluster's nodes (state, health, readiness, replicas, leaders, HTTP address)
 * and of its groups (keyspace, slots, replicas, leader, replication lag in entries).
 * `--json` prints the same data as one JSON object.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect } from "effect"
import { clientFlags, routerLayer } from "../ClientFlags.js"

const json = Options.boolean("json").pipe(Options.withDescription("print JSON instead of tables"))

/** `flotilla status`. */
export const status = Command.make("status", { ...clientFlags, json }, (o) =>
  Effect.gen(function* () {
    const [{ Router }, { Bus }, ClusterStatus] = yield* Effect.promise(() =>
      Promise.all([
        import("../../client/Router.js"),
        import("../../transport/Bus.js"),
        import("../ClusterStatus.js"),
      ]),
    )
    const report = yield* ClusterStatus.gather(yield* Router, yield* Bus)
    yield* Console.log(o.json ? JSON.stringify(report) : ClusterStatus.render(report))
  }).pipe(Effect.provide(routerLayer(o))),
).pipe(Command.withDescription("show the cluster's nodes, groups, leaders and replication lag"))
