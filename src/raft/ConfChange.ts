/**
 * Membership changes as data: the `ConfChange` a caller proposes and its binary encoding in a
 * `ConfChange` log entry. One shape covers single-node changes (one item, no joint state) and
 * joint consensus (several items, or an explicit transition). An empty change leaves a joint
 * configuration.
 *
 * Encoding (version 1, big-endian): u8 version, u8 transition, u16 count, count × (u8 type,
 * f64 node id), u32 context length, context bytes. Decoding validates every field and returns
 * `undefined` on anything malformed.
 */
import { isReplicaId, type ReplicaId } from "./Types.js"

export const ConfChangeType = {
  AddNode: 0,
  RemoveNode: 1,
  AddLearner: 2,
} as const
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType]

export const ConfChangeTransition = {
  /** Single change: applied directly. Several changes: joint, left automatically. */
  Auto: 0,
  /** Always joint; left automatically once applied. */
  JointImplicit: 1,
  /** Always joint; stays joint until an empty change is proposed. */
  JointExplicit: 2,
} as const
export type ConfChangeTransition = (typeof ConfChangeTransition)[keyof typeof ConfChangeTransition]

export interface ConfChangeSingle {
  readonly type: ConfChangeType
  readonly nodeId: ReplicaId
}

export interface ConfChange {
  readonly transition: ConfChangeTransition
  readonly changes: readonly ConfChangeSingle[]
  /** Opaque to the core; returned to the application with the applied change. */
  readonly context: Uint8Array
}

const VERSION = 1

export const confChange = (
  changes: readonly ConfChangeSingle[],
  transition: ConfChangeTransition = ConfChangeTransition.Auto,
  context: Uint8Array = new Uint8Array(0),
): ConfChange => ({ transition, changes, context })

/** An empty change: leaves the current joint configuration. */
export const leaveJoint = (): ConfChange => confChange([])

/** True when applying `cc` leaves a joint configuration. */
export const isLeaveJoint = (cc: ConfChange): boolean => cc.changes.length === 0

/** The joint-consensus decision of etcd: joint when asked, or when more than one node changes. */
export const entersJoint = (cc: ConfChange): { readonly joint: boolean; readonly autoLeave: boolean } => {
  if (cc.transition !== ConfChangeTransition.Auto || cc.changes.length > 1) {
    return { joint: true, autoLeave: cc.transition !== ConfChangeTransition.JointExplicit }
  }
  return { joint: false, autoLeave: false }
}

export const encodeConfChange = (cc: ConfChange): Uint8Array => {
  const out = new Uint8Array(4 + cc.changes.length * 9 + 4 + cc.context.length)
  const view = new DataView(out.buffer)
  view.setUint8(0, VERSION)
  view.setUint8(1, cc.transition)
  view.setUint16(2, cc.changes.length)
  let at = 4
  for (const c of cc.changes) {
    view.setUint8(at, c.type)
    view.setFloat64(at + 1, c.nodeId)
    at += 9
  }
  view.setUint32(at, cc.context.length)
  out.set(cc.context, at + 4)
  return out
}

/** Decodes a ConfChange entry's data; `undefined` when it is not a well-formed change. */
export const decodeConfChange = (data: Uint8Array): ConfChange | undefined => {
  if (data.length < 8) return undefined
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  if (view.getUint8(0) !== VERSION) return undefined
  const transition = view.getUint8(1)
  if (transition > ConfChangeTransition.JointExplicit) return undefined
  const count = view.getUint16(2)
  if (data.length < 4 + count * 9 + 4) return undefined
  const changes: ConfChangeSingle[] = []
  let at = 4
  for (let i = 0; i < count; i++) {
    const type = view.getUint8(at)
    const nodeId = view.getFloat64(at + 1)
    if (type > ConfChangeType.AddLearner || !isReplicaId(nodeId)) return undefined
    changes.push({ type: type as ConfChangeType, nodeId })
    at += 9
  }
  const contextLength = view.getUint32(at)
  if (at + 4 + contextLength !== data.length) return undefined
  return {
    transition: transition as ConfChangeTransition,
    changes,
    context: data.slice(at + 4, at + 4 + contextLength),
  }
}

export const describeConfChange = (cc: ConfChange): string => {
  if (cc.changes.length === 0) return "leave-joint"
  const names = ["v", "r", "l"]
  const items = cc.changes.map((c) => `${names[c.type]}${c.nodeId}`).join(" ")
  const t =
    cc.transition === ConfChangeTransition.Auto ? "" : ` (${["auto", "implicit", "explicit"][cc.transition]})`
  return items + t
}
