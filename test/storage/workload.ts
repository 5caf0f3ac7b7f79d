/**
 * Deterministic workloads for the storage tests, shared by the model-based restart test and the
 * crash tests' child process (so this module imports nothing of vitest): entries and snapshots
 * with recognisable payloads, a command interpreter that turns random integers into valid
 * updates while applying them to src/raft's `MemoryStorage`, and a seeded per-writer workload.
 */

import { GroupId } from "../../src/raft/Ids.js"
import { MemoryStorage } from "../../src/raft/Storage.js"
import {
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type ReplicaId,
  type Snapshot,
} from "../../src/raft/Types.js"
import type { GroupUpdate } from "../../src/storage/LogStore.js"

/** The payload of entry `index` of `group` written in `term`: distinct for each, of varying size. */
export const payload = (group: number, index: number, term: number): Uint8Array =>
  new TextEncoder().encode(`g${group}i${index}t${term}${"x".repeat((index * 7 + group) % 23)}`)

/** Entries `from .. to` of `group`, all in `term`. */
export const entries = (group: number, from: number, to: number, term: number): Entry[] => {
  const out: Entry[] = []
  for (let i = from; i <= to; i++)
    out.push({ index: i, term, type: EntryType.Normal, data: payload(group, i, term) })
  return out
}

/** A configuration with the given voters. */
export const conf = (...voters: number[]): ConfState => ({
  voters: voters as ReplicaId[],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
})

/** A snapshot at `index`/`term` with recognisable data. */
export const snapshot = (group: number, index: number, term: number, bytes = 64): Snapshot => {
  const data = new Uint8Array(bytes)
  for (let k = 0; k < bytes; k++) data[k] = (group * 13 + index * 7 + term + k) & 0xff
  return { metadata: { index, term, confState: conf(1, 2, 3) }, data }
}

/** A hard state. */
export const hs = (term: number, vote: number, commit: number): HardState => ({
  term,
  vote: vote as ReplicaId,
  commit,
})

/** Group ids for tests. */
export const G = (n: number): GroupId => GroupId(n)

/** A fresh model group. */
export const newModel = (term = 1): GroupModel => ({ storage: new MemoryStorage(), term, present: false })

/** A random command; the interpreter turns it into a valid operation for the state reached. */
export interface Command {
  /** 0..99: which operation (weights below). */
  readonly op: number
  /** Bit set of the groups the write touches (model test). */
  readonly groups: number
  readonly a: number
  readonly b: number
  readonly c: number
}

/** One group of the model: src/raft's `MemoryStorage` plus what the generator needs. */
export interface GroupModel {
  storage: MemoryStorage
  /** The group's current term, only ever increasing (as in Raft). */
  term: number
  present: boolean
}

/** The index of the model's latest snapshot (0 when none). */
export const snapshotIndex = (m: GroupModel): number => {
  const s = m.storage.snapshot()
  return "metadata" in s ? s.metadata.index : 0
}

/** Turns one command for one group into a valid update, applying it to the model too. */
export const plan = (group: number, m: GroupModel, cmd: Command): GroupUpdate | undefined => {
  const s = m.storage
  const floor = s.firstIndex() - 1
  const last = s.lastIndex()
  const snap = snapshotIndex(m)
  const kind =
    cmd.op < 45
      ? "append"
      : cmd.op < 60
        ? "hardState"
        : cmd.op < 70
          ? "install"
          : cmd.op < 82
            ? "save"
            : "compact"
  switch (kind) {
    case "append": {
      if (cmd.c % 4 === 0) m.term++
      const lo = Math.max(floor, snap) + 1
      const at = lo + (cmd.a % (last + 2 - lo))
      const ents: Entry[] = entries(group, at, at + (cmd.b % 5), m.term)
      s.append(ents)
      const update: GroupUpdate = { groupId: G(group), entries: ents }
      return cmd.c % 3 === 0 ? { ...update, hardState: setHardState(m, cmd) } : update
    }
    case "hardState":
      return { groupId: G(group), hardState: setHardState(m, cmd) }
    case "install": {
      m.term += cmd.c % 2
      const index = snap + 1 + (cmd.a % 12)
      const snapshot: Snapshot = {
        metadata: { index, term: m.term, confState: conf(1 + (cmd.b % 3), 4) },
        data: entries(group, index, index, cmd.b)[0]!.data,
      }
      if (s.applySnapshot(snapshot) !== "ok") throw new Error("model refused a newer snapshot")
      return { groupId: G(group), snapshot }
    }
    case "save": {
      if (last <= snap) return undefined
      const index = snap + 1 + (cmd.a % (last - snap))
      const made = s.createSnapshot(
        index,
        conf(1, 2, 3 + (cmd.b % 2)),
        entries(group, index, index, 9)[0]!.data,
      )
      if (typeof made !== "object" || !("metadata" in made)) throw new Error("model refused a snapshot")
      return { groupId: G(group), savedSnapshot: made }
    }
    case "compact": {
      if (snap <= floor) return undefined
      const index = floor + 1 + (cmd.a % (snap - floor))
      if (s.compact(index) !== "ok") throw new Error("model refused a compaction")
      return { groupId: G(group), compactTo: index }
    }
  }
}

const setHardState = (m: GroupModel, cmd: Command) => {
  const h = hs(m.term, cmd.b % 4, Math.min(m.storage.lastIndex(), cmd.a % 50))
  m.storage.setHardState(h)
  return h
}

/** A small seeded PRNG (mulberry32): the same seed gives the same stream in every process. */
export const rng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
}

/**
 * The batches of one writer of the crash test: writer `w` owns groups
 * `w * groupsPerWriter + 1 ..`; batch n updates a seeded subset of them. `next()` returns the
 * next batch and applies it to `models`, so replaying n batches gives the state after them.
 */
export class Workload {
  readonly models: GroupModel[]
  readonly groups: number[]
  private readonly random: () => number
  /** Batches generated so far. */
  count = 0

  constructor(seed: number, writer: number, groupsPerWriter: number) {
    this.random = rng(seed * 7919 + writer * 104_729 + 1)
    this.groups = Array.from({ length: groupsPerWriter }, (_, k) => writer * groupsPerWriter + k + 1)
    this.models = this.groups.map(() => newModel())
  }

  next(): GroupUpdate[] {
    this.count++
    const updates: GroupUpdate[] = []
    for (let k = 0; k < this.groups.length; k++) {
      if (this.random() % 3 === 0) continue
      const cmd: Command = {
        op: this.random() % 94,
        groups: 0,
        a: this.random() % 1000,
        b: this.random() % 1000,
        c: this.random() % 1000,
      }
      const u = plan(this.groups[k]!, this.models[k]!, cmd)
      if (u !== undefined) {
        updates.push(u)
        this.models[k]!.present = true
      }
    }
    return updates
  }
}
