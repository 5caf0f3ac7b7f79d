/**
 * Node liveness (docs/decisions/0004): every node pings `<root>.int.live.<node>` once per
 * `livenessIntervalMs`; a node not heard from (ping or Raft frame) for `livenessTimeoutMs`
 * counts as down, and the engine wakes the quiesced groups it led and those led here with a
 * voter on it. A node heard from again is up.
 *
 * Whether the silence is the other node's or ours (docs/decisions/0079): a node that hears its
 * own pings knows the bus reaches it, and only then are the groups a silent node led failed over
 * at once (`onDown`'s `failOver`); without its own pings (our bus link is down) it still wakes
 * them. A node whose own loop stood still (no step for half the timeout, or two ticks if longer: a
 * SIGSTOP, a long stall) heard
 * nothing meanwhile: it starts every node's silence afresh rather than judge them.
 * With a cluster secret (ClusterSecret.ts, `LivenessAuth`) every ping carries the sender's
 * clock and a tag over cluster, node and clock: a ping is heard only when its tag verifies
 * and its clock is later than that node's last ping heard, so neither a forged nor a
 * replayed ping keeps a dead node "up" (and its groups leaderless). Refused pings are counted
 * (`refusedPings`). Without a secret pings are empty and taken as they come.
 */
import { Effect, type Scope, Stream } from "effect"
import { isNodeId, type NodeId } from "../raft/Ids.js"
import type { BusService } from "../transport/Bus.js"
import type { LivenessAuth } from "../transport/ClusterSecret.js"
import type { ClusterSubjects } from "../transport/Subjects.js"
import { supervise } from "./Supervisor.js"

const EMPTY = new Uint8Array(0)

export class Liveness {
  /** Last time each node was heard from. */
  private readonly lastHeard = new Map<NodeId, number>()
  /** Nodes silent past the timeout now. */
  readonly down = new Set<NodeId>()
  /** Pings dropped: their tag did not verify or their clock was not later than the last. */
  refusedPings = 0
  /** The clock of each node's last ping heard (signed pings only). */
  private readonly lastStamp = new Map<NodeId, number>()
  private nextPing = 0
  /** When silences are next judged (`step`). */
  private nextJudge = 0
  /** When this node last heard its own ping (undefined: never yet). */
  private selfHeard: number | undefined
  /** When `step` last ran. */
  private lastStep: number | undefined
  /** The monotonic instant of the loop's last turn (`stallSeen`). */
  private lastTurn: number | undefined

  constructor(
    private readonly bus: BusService,
    private readonly subjects: ClusterSubjects,
    private readonly self: NodeId,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    /** A gap between two steps longer than this means the loop stood still. */
    private readonly stallMs: number = timeoutMs / 2,
    /** Signs and checks pings; none: pings are empty and unchecked. */
    private readonly auth?: LivenessAuth,
  ) {}

  /**
   * Takes one ping received on `subject` at `now`: hears its node when the ping is genuine
   * (see the module comment). Never throws.
   */
  receivePing(subject: string, data: Uint8Array, now: number): void {
    const node = Number(subject.slice(subject.lastIndexOf(".") + 1))
    if (!isNodeId(node)) return
    // Our own pings count too: hearing them tells that the bus reaches us (`busReachesUs`).
    if (this.auth !== undefined) {
      const at = this.auth.check(this.subjects.root, node, data)
      const last = this.lastStamp.get(node)
      if (at === undefined || (last !== undefined && at <= last)) {
        this.refusedPings++
        return
      }
      this.lastStamp.set(node, at)
    }
    this.heard(node, now)
  }

  /** `node` was heard from at `now`. */
  heard(node: NodeId, now: number): void {
    if (node === this.self) {
      // Our own ping back after a gap (our bus link was down, e.g. a NATS restart): we heard
      // nobody meanwhile, and the others may still be reconnecting: every silence starts again
      // from now rather than failing over the nodes that reconnect after us.
      if (this.selfHeard !== undefined && now - this.selfHeard > 2 * this.intervalMs)
        for (const other of this.lastHeard.keys()) this.lastHeard.set(other, now)
      this.selfHeard = now
      return
    }
    this.lastHeard.set(node, now)
    this.down.delete(node)
  }

  /** Whether this node heard its own ping within the timeout: the bus reaches it. */
  private busReachesUs(now: number): boolean {
    return this.selfHeard !== undefined && now - this.selfHeard <= this.timeoutMs
  }

  /** Hears every node's pings for the scope's lifetime (a fiber of the scope). */
  listen(nowMs: () => number): Effect.Effect<void, never, Scope.Scope> {
    return Effect.asVoid(
      Effect.forkScoped(
        Effect.scoped(
          Effect.gen(this, function* () {
            const sub = yield* this.bus.subscribe(this.subjects.liveAll)
            yield* Stream.runForEach(sub.messages, (msg) =>
              Effect.sync(() => this.receivePing(msg.subject, msg.data, nowMs())),
            )
          }),
        ).pipe((listening) => supervise("liveness", listening)),
      ),
    )
  }

  /**
   * Called at the top of each turn of the node's loop, before its round, with the MONOTONIC
   * clock (a wall-clock step is no stall): when the loop stood still since the last turn long
   * enough for the other nodes to find this one silent (the gap plus one interval, the most our
   * last ping can predate the stall, reaches the timeout), the gap in ms; else undefined. Then
   * peers may be failing over the groups led here right now (docs/decisions/0130).
   */
  stallSeen(monoNow: number): number | undefined {
    const last = this.lastTurn
    this.lastTurn = monoNow
    if (last === undefined) return undefined
    const gap = monoNow - last
    return gap > this.stallMs && gap + this.intervalMs >= this.timeoutMs ? gap : undefined
  }

  /**
   * A step of the node's loop at `now`: pings once per interval, and hands each
   * node that went silent past the timeout to `onDown` (`failOver`: whether this node hears its
   * own pings, so that the silence is the other node's). Judging every fifth of an interval, not
   * only when pinging, finds a silent node within 100 ms (by default) of its timeout on every
   * peer alike: peers that find it silent an interval apart would refuse the first failover
   * campaign (the lease of the leader they still believe in).
   */
  step(now: number, onDown: (node: NodeId, failOver: boolean) => void): Effect.Effect<void> {
    const stalled = this.lastStep !== undefined && now - this.lastStep > this.stallMs
    this.lastStep = now
    if (stalled) {
      // We heard nothing while we stood still: every silence starts again from now.
      for (const node of this.lastHeard.keys()) this.lastHeard.set(node, now)
      this.selfHeard = undefined
    }
    const pingDue = now >= this.nextPing
    let silent: Array<readonly [NodeId, number]> | undefined
    // Judged five times an interval (every 100 ms by default), not on every round of a busy loop.
    if (now >= this.nextJudge) {
      this.nextJudge = now + this.intervalMs / 5
      for (const [node, t] of this.lastHeard)
        if (!this.down.has(node) && now - t > this.timeoutMs) (silent ??= []).push([node, now - t])
    }
    if (!pingDue && silent === undefined) return Effect.void
    return Effect.gen(this, function* () {
      if (pingDue) {
        this.nextPing = now + this.intervalMs
        const ping = this.auth === undefined ? EMPTY : this.auth.sign(this.subjects.root, this.self, now)
        yield* this.bus.publish(this.subjects.live(this.self), ping).pipe(Effect.ignore)
      }
      if (silent === undefined) return
      const failOver = this.busReachesUs(now)
      for (const [node, ms] of silent) {
        this.down.add(node)
        yield* Effect.logWarning(
          `node ${node} silent for ${ms} ms: waking the groups it led${failOver ? " (failing over)" : " (this node does not hear its own pings: no failover)"}`,
        )
        onDown(node, failOver)
      }
    })
  }
}
