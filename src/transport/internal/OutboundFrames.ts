/**
 * The outbound half of the transport core: a send cut into frames under the payload limit,
 * sealed with the cluster secret when there is one, and published; what cannot go is counted in
 * `stats.unsent` and logged, never thrown (one message must not stop the loop that sends
 * everything else: issue 11 finding 1, issue 12 finding 1).
 */
import type { NodeId } from "../../raft/Ids.js"
import { isNodeId } from "../../raft/Ids.js"
import { MessageType } from "../../raft/Types.js"
import type { FrameAuth } from "../ClusterSecret.js"
import { type Envelope, encodeFrame, encodeFrames, type FrameHeader, type SplitFrames } from "../Frame.js"
import type { ClusterSubjects } from "../Subjects.js"
import type { OutboundDropReason } from "../TransportService.js"
import type { TransportIo } from "./TransportIo.js"

/** What sending needs of its core. */
export interface OutboundDeps {
  readonly nodeId: NodeId
  readonly clusterId: number
  readonly auth: FrameAuth | undefined
  readonly io: TransportIo
  readonly subjects: ClusterSubjects
  readonly stats: {
    framesSent: number
    bytesSent: number
    envelopesSent: number
    readonly unsent: Record<OutboundDropReason, number>
  }
  readonly log: (line: string) => void
  /** The largest frame now. */
  readonly frameLimit: () => number
}

/** `send` of the core: every envelope for node `to`, in as few frames as fit. NEVER throws. */
export const makeSendNow = (d: OutboundDeps): ((to: NodeId, envelopes: ReadonlyArray<Envelope>) => void) => {
  const { io, stats, log, subjects, clusterId } = d
  const config = { nodeId: d.nodeId, auth: d.auth }
  const frameLimit = d.frameLimit
  const publishFrames = (split: SplitFrames, subject: string, kind: "raft" | "snap", to: NodeId) => {
    for (let i = 0; i < split.frames.length; i++) {
      const frame = config.auth === undefined ? split.frames[i]! : config.auth.seal(split.frames[i]!)
      const outcome = io.publish(subject, kind, to, frame)
      if (outcome === "sent") {
        stats.framesSent++
        stats.bytesSent += frame.length
        stats.envelopesSent += split.counts[i]!
      } else {
        stats.unsent[outcome]++
      }
    }
  }

  const reportInvalid = (split: SplitFrames, to: NodeId) => {
    if (split.invalid.length === 0) return
    stats.unsent.invalid += split.invalid.length
    const first = split.invalid[0]!
    log(
      `transport: ${split.invalid.length} message(s) to node ${to} cannot be encoded and were not sent (first: group ${first.envelope.groupId}, type ${first.envelope.message.type}: ${first.reason})`,
    )
  }

  const reportOversized = (oversized: ReadonlyArray<Envelope>, to: NodeId, limit: number) => {
    if (oversized.length === 0) return
    stats.unsent.oversized += oversized.length
    const first = oversized[0]!
    log(
      `transport: ${oversized.length} message(s) to node ${to} exceed the ${limit}-byte frame limit and were not sent (first: group ${first.groupId}, type ${first.message.type})`,
    )
  }

  /** Drops (counts, logs) what cannot be sent at all: a bug upstream, never a dead loop. */
  const reportRefused = (count: number, to: NodeId, why: string) => {
    stats.unsent.invalid += count
    log(`transport: ${count} message(s) to node ${to} cannot be encoded and were not sent: ${why}`)
  }

  /**
   * `encodeFrames`, except that envelopes the encoder refuses (see Frame.ts, CONTRACTS) are
   * dropped and reported, and the others still go. The first try is the whole list: a refusal
   * is rare, so the cost of finding the culprits one by one only falls on it.
   */
  const encodeSendable = (header: FrameHeader, envelopes: ReadonlyArray<Envelope>, limit: number) => {
    try {
      return encodeFrames(header, envelopes, limit)
    } catch (first) {
      const good = envelopes.filter((env) => {
        try {
          encodeFrame(header, [env])
          return true
        } catch {
          return false
        }
      })
      reportRefused(envelopes.length - good.length, header.to, String(first))
      try {
        return encodeFrames(header, good, limit)
      } catch (again) {
        reportRefused(good.length, header.to, String(again))
        return { frames: [], counts: [], oversized: [], invalid: [] }
      }
    }
  }

  const sendNow = (to: NodeId, envelopes: ReadonlyArray<Envelope>): void => {
    if (envelopes.length === 0) return
    if (!isNodeId(to)) {
      reportRefused(envelopes.length, to, `${to} is not a node id`)
      return
    }
    const header: FrameHeader = { clusterId, from: config.nodeId, to }
    const limit = frameLimit()
    let snaps = 0
    for (const env of envelopes) if (env.message.type === MessageType.Snap) snaps++
    const raft = snaps === 0 ? envelopes : envelopes.filter((e) => e.message.type !== MessageType.Snap)
    if (raft.length > 0) {
      const split = encodeSendable(header, raft, limit)
      publishFrames(split, subjects.raft(to), "raft", to)
      reportOversized(split.oversized, to, limit)
      reportInvalid(split, to)
    }
    if (snaps > 0) {
      for (const env of envelopes) {
        if (env.message.type !== MessageType.Snap) continue
        const split = encodeSendable(header, [env], limit)
        publishFrames(split, subjects.snap(to), "snap", to)
        reportOversized(split.oversized, to, limit)
        reportInvalid(split, to)
      }
    }
  }
  return sendNow
}
