/**
 * The runtime's checks of an inbound Raft message against the replica it is for, before the
 * core sees it. The frame codec has range-checked every field (Frame.ts) and the core checks
 * the message's own shape (RawNode.validateMessage) and refuses responses from non-members; what
 * only the runtime knows is the node layout of replica ids (Ids.ts: generation * 2^16 + node).
 *
 * A message is implausible when:
 * - it claims to come from a replica on the receiving node (a group has one replica per node,
 *   and a node never sends itself frames);
 * - the configuration holds a LATER incarnation of the sender (same node, higher generation):
 *   generations only grow, so the sender was removed and re-added since (a stale or forged
 *   message). A sender the configuration does not know at all stays plausible: it may be a
 *   member added by an entry this replica has not applied yet, and only its messages teach
 *   this replica that entry;
 * - it would create an expected replica (one being added here) without being a message a
 *   leader sends to a new member (MsgApp, MsgHeartbeat, MsgSnap).
 */
import { generationOfReplica, type NodeId, nodeOfReplica } from "../raft/Ids.js"
import { type Message, MessageType } from "../raft/Types.js"
import type { Replica } from "./Replica.js"

/** Why a message is implausible for the replica, or undefined when it may be stepped. */
export const implausibleFor = (r: Replica, m: Message, localNode: NodeId): string | undefined => {
  const fromNode = nodeOfReplica(m.from)
  if (fromNode === localNode) return `sender ${m.from} claims to be on this node`
  const fromGeneration = generationOfReplica(m.from)
  for (const member of r.raw.members()) {
    if (nodeOfReplica(member) === fromNode && generationOfReplica(member) > fromGeneration)
      return `sender ${m.from} is an older incarnation of member ${member}`
  }
  return undefined
}

/** Whether a message may bring an expected replica into being (a leader's message). */
export const mayCreateReplica = (m: Message): boolean =>
  m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap
