/**
 * How a heartbeat proves it is its node's without carrying the node's identity token
 * (issue 11: the token travelled in clear in every heartbeat, so anyone reading the meta
 * subject could heartbeat as any node). The proof is an HMAC-SHA256, keyed by the token, over
 * the node id, the report's clock (`load.at`) and the part it carries; the metadata leader
 * recomputes it with the token it holds in the cluster state. The leader also takes a
 * node's heartbeats only in increasing (clock, part) order (`HeartbeatClock`), so a recorded
 * heartbeat cannot be replayed to it.
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import type { ReportPart } from "../meta/NodeReport.js"
import type { NodeId } from "../raft/Ids.js"

/** The proof of a heartbeat of `node` with a report at clock `at` (hex). */
export const heartbeatProof = (
  token: string,
  node: number,
  at: number,
  part: ReportPart | undefined,
): string =>
  createHmac("sha256", token)
    .update(
      `flotilla heartbeat\0${node}\0${at}\0${part === undefined ? "whole" : `${part.index}/${part.count}`}`,
    )
    .digest("hex")

/** True when `proof` is the heartbeat's proof under `token` (constant-time comparison). */
export const verifyHeartbeatProof = (
  token: string,
  proof: string,
  node: number,
  at: number,
  part: ReportPart | undefined,
): boolean => {
  const expected = Buffer.from(heartbeatProof(token, node, at, part), "hex")
  const given = /^[0-9a-f]{64}$/.test(proof) ? Buffer.from(proof, "hex") : undefined
  return given !== undefined && timingSafeEqual(expected, given)
}

/** The last (clock, part) the leader took from each node: later ones only. */
export class HeartbeatClock {
  private readonly last = new Map<NodeId, { readonly at: number; readonly index: number }>()

  /** Records and returns true when (`at`, `index`) comes after the node's last one; else false. */
  advance(node: NodeId, at: number, index: number): boolean {
    const prev = this.last.get(node)
    if (prev !== undefined && (at < prev.at || (at === prev.at && index <= prev.index))) return false
    this.last.set(node, { at, index })
    return true
  }

  clear(): void {
    this.last.clear()
  }
}
