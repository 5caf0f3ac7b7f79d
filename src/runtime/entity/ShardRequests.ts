/**
 * The front of every entity shard's state machine (ShardStateMachine.ts, the KV shard): a
 * request is decoded and its kind checked; the shard clock moves to the proposer's time (never
 * the wall clock) and expires idle sessions; a command with a session is admitted exactly once
 * (docs/decisions/0043): a duplicate gets the reply recorded for it, a command that failed with
 * a `SystemError` (nothing applied) leaves its session as it was; sessions open and close;
 * reads go to the machine. What a command or a read does is the machine's own (`ShardHandlers`).
 */
import { Either } from "effect"
import { NotAQuery, WrongKind } from "./EntityError.js"
import type { SessionTable } from "./Sessions.js"
import * as Wire from "./Wire.js"

/** A request that runs an operation on an entity. */
export type EntityRequest = Extract<Wire.Request, { readonly type: "command" | "query" }>

/** A request that changes nothing. */
export type ReadRequest = Exclude<Wire.Request, { readonly type: "command" | "openSession" | "closeSession" }>

/** What the state machine does itself. Neither may throw. */
export interface ShardHandlers {
  /** Runs a command committed at `index` (its session already admitted). */
  readonly run: (request: EntityRequest, index: number) => Uint8Array
  /** Answers a read. */
  readonly read: (request: ReadRequest) => Uint8Array
}

export class ShardRequests {
  /** The shard clock: the latest proposer time seen (ms). */
  clock = 0

  constructor(
    /** The kind every request must name. */
    readonly kind: string,
    /** Replaced as a whole when a snapshot is restored. */
    public sessions: SessionTable,
    private readonly handlers: ShardHandlers,
  ) {}

  /** Applies the command committed at `index`. Never throws. */
  apply(command: Uint8Array, index: number): Uint8Array {
    const decoded = Wire.decodeRequest(command)
    if (Either.isLeft(decoded)) return Wire.errorReply(decoded.left)
    const { header, request } = decoded.right
    if (request.kind !== this.kind)
      return Wire.errorReply(new WrongKind({ expected: this.kind, actual: request.kind }))
    if (header.time > this.clock) {
      this.clock = header.time
      this.sessions.expire(this.clock)
    }
    switch (request.type) {
      case "command": {
        if (request.session === 0) return this.handlers.run(request, index)
        const { session, seq, ackedBelow } = request
        const admission = this.sessions.admit(session, seq, ackedBelow)
        if (admission._tag === "Refuse") return Wire.errorReply(admission.error)
        if (admission._tag === "Duplicate") {
          this.sessions.settle(session, seq, ackedBelow, this.clock)
          return admission.reply.slice()
        }
        const reply = this.handlers.run(request, index)
        // An EntityError means nothing was applied: the session is left as it was.
        if (reply[1] !== Wire.ReplyStatus.SystemError)
          this.sessions.settle(session, seq, ackedBelow, this.clock, reply)
        return reply.slice()
      }
      case "openSession":
        return Wire.successReply(this.sessions.open(index, this.clock))
      case "closeSession":
        return Wire.successReply(this.sessions.close(request.session))
      default:
        return this.handlers.read(request)
    }
  }

  /** Answers a read (a command or session request is refused). Never throws, never changes state. */
  query(request: Uint8Array): Uint8Array {
    const decoded = Wire.decodeRequest(request)
    if (Either.isLeft(decoded)) return Wire.errorReply(decoded.left)
    const r = decoded.right.request
    if (r.kind !== this.kind) return Wire.errorReply(new WrongKind({ expected: this.kind, actual: r.kind }))
    if (r.type === "command" || r.type === "openSession" || r.type === "closeSession")
      return Wire.errorReply(new NotAQuery({ requestType: r.type }))
    return this.handlers.read(r)
  }
}
