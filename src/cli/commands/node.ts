/**
 * `flotilla node list|drain|remove`: the nodes of a cluster, through the metadata group (operator
 * requests on the meta subject). `drain` moves a node's replicas elsewhere (the planner does it;
 * `flotilla status` shows the progress); `remove` retires a drained or down node once it hosts
 * nothing (`NodeNotEmpty` before). Each takes `--json`.
 *
 *   flotilla node list
 *   flotilla node drain 3
 *   flotilla node remove 3
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect } from "effect"
import { Router } from "../../client/Router.js"
import type { NodeView } from "../../meta/MetaQuery.js"
import { MAX_NODE_ID, NodeId } from "../../raft/Ids.js"
import { clientFlags, routerLayer } from "../ClientFlags.js"
import { describeError } from "../Failure.js"
import { table } from "../Table.js"

const json = Options.boolean("json").pipe(Options.withDescription("print the answer as one JSON line"))
const nodeArg = Args.integer({ name: "node" }).pipe(
  Args.withDescription(`the node's id (1..${MAX_NODE_ID}), as \`flotilla node list\` shows it`),
)

/** The node list as a table: id, name, state, zone, replicas, seconds since the last heartbeat. */
export const nodeTable = (nodes: ReadonlyArray<NodeView>, now: number): string =>
  nodes.length === 0
    ? "no nodes"
    : table(
        ["ID", "NAME", "STATE", "ZONE", "REPLICAS", "HEARD"],
        nodes.map((n) => [
          String(n.id),
          n.name,
          n.state,
          n.labels.zone ?? "",
          String(n.replicas),
          `${Math.max(0, Math.round((now - n.lastHeartbeat) / 1000))}s ago`,
        ]),
      )

const list = Command.make("list", { ...clientFlags, json }, (o) =>
  Effect.gen(function* () {
    const r = yield* (yield* Router).meta({ _tag: "GetNodes" })
    if (r._tag !== "NodeList") return yield* Effect.fail(new Error(`node list: ${describeError(r)}`))
    yield* Console.log(o.json ? JSON.stringify({ nodes: r.nodes }) : nodeTable(r.nodes, Date.now()))
  }).pipe(Effect.provide(routerLayer(o))),
).pipe(Command.withDescription("list the nodes: id, name, state, zone, replicas, last heartbeat"))

const setState = (verb: string, state: "draining" | "removed", description: string) =>
  Command.make(verb, { ...clientFlags, json, node: nodeArg }, (o) =>
    Effect.gen(function* () {
      if (!Number.isSafeInteger(o.node) || o.node < 1 || o.node > MAX_NODE_ID)
        return yield* Effect.fail(new Error(`node must be in 1..${MAX_NODE_ID}, got ${o.node}`))
      const r = yield* (yield* Router).meta({ _tag: "SetNodeState", node: NodeId(o.node), state })
      if (r._tag !== "Done")
        return yield* Effect.fail(new Error(`node ${verb} ${o.node}: ${describeError(r)}`))
      yield* Console.log(o.json ? JSON.stringify({ node: o.node, state }) : `node ${o.node}: ${state}`)
    }).pipe(Effect.provide(routerLayer(o))),
  ).pipe(Command.withDescription(description))

/** `flotilla node`. */
export const node = Command.make("node").pipe(
  Command.withDescription("list, drain and remove the nodes of a cluster"),
  Command.withSubcommands([
    list,
    setState("drain", "draining", "drain a node: the planner moves its replicas to other nodes"),
    setState("remove", "removed", "retire a drained or down node that hosts no replica (for good)"),
  ]),
)
