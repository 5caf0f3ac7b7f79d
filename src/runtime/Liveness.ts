/**
 * Node liveness (docs/decisions/0004): every node pings `<root>.int.live.<node>` once per
 * `livenessIntervalMs`; a node not heard from (ping or Raft frame) for `livenessTimeoutMs`
 * counts as down, and the engine wakes the quiesced groups it led and those led here with a
 * voter on it. A node heard from again is up.
 *
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

  constructor(
    private readonly bus: BusService,
    private readonly subjects: ClusterSubjects,
    private readonly self: NodeId,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    /** Signs and checks pings; none: pings are empty and unchecked. */
    private readonly auth?: LivenessAuth,
  ) {}

  /**
   * Takes one ping received on `subject` at `now`: hears its node when the ping is genuine
   * (see the module comment). Never throws.
   */
  receivePing(subject: string, data: Uint8Array, now: number): void {
    const node = Number(subject.slice(subject.lastIndexOf(".") + 1))
    if (!isNodeId(node) || node === this.self) return
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
    this.lastHeard.set(node, now)
    this.down.delete(node)
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
        ).pipe(Effect.catchAll((e) => Effect.logError(`liveness subscription failed: ${e.message}`))),
      ),
    )
  }

  /**
   * A step of the node's loop at `now`: once per interval, pings and hands every node that
   * went silent past the timeout since the last step to `onDown`.
   */
  step(now: number, onDown: (node: NodeId) => void): Effect.Effect<void> {
    if (now < this.nextPing) return Effect.void
    return Effect.gen(this, function* () {
      this.nextPing = now + this.intervalMs
      const ping = this.auth === undefined ? EMPTY : this.auth.sign(this.subjects.root, this.self, now)
      yield* this.bus.publish(this.subjects.live(this.self), ping).pipe(Effect.ignore)
      for (const [node, t] of this.lastHeard) {
        if (node !== this.self && !this.down.has(node) && now - t > this.timeoutMs) {
          this.down.add(node)
          yield* Effect.logWarning(`node ${node} silent for ${now - t} ms: waking the groups it led`)
          onDown(node)
        }
      }
    })
  }
}
