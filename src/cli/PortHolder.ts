/**
 * Which process listens on a TCP port, from Linux's /proc (no external tool): the hint printed
 * when `--embedded-nats` cannot bind because, typically, the nats-server of a node killed with
 * `kill -9` still holds the port. Undefined where /proc says nothing (other systems, another
 * user's process).
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs"

/** A process holding a port. */
export interface PortHolder {
  readonly pid: number
  /** Its command name (`/proc/<pid>/comm`), e.g. `nats-server`. */
  readonly name: string
}

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

/** The socket inodes listening on `port` (state 0A) in /proc/net/tcp and tcp6. */
export const listeningInodes = (tables: ReadonlyArray<string>, port: number): Set<string> => {
  const inodes = new Set<string>()
  const hex = port.toString(16).toUpperCase().padStart(4, "0")
  for (const table of tables)
    for (const line of table.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length > 9 && f[1]!.endsWith(`:${hex}`) && f[3] === "0A") inodes.add(f[9]!)
    }
  return inodes
}

/** The process listening on `port`, if /proc shows it. */
export const findPortHolder = (port: number): PortHolder | undefined => {
  const tables = ["/proc/net/tcp", "/proc/net/tcp6"].flatMap((p) => read(p) ?? [])
  const inodes = listeningInodes(tables, port)
  if (inodes.size === 0) return undefined
  let pids: string[]
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d))
  } catch {
    return undefined
  }
  for (const pid of pids) {
    let fds: string[]
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      let link: string
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`)
      } catch {
        continue
      }
      const m = /^socket:\[(\d+)\]$/.exec(link)
      if (m !== null && inodes.has(m[1]!))
        return { pid: Number(pid), name: (read(`/proc/${pid}/comm`) ?? "?").trim() }
    }
  }
  return undefined
}

/** The hint for a port that is taken: who holds it, and what to do. */
export const portHint = (port: number): string => {
  const holder = findPortHolder(port)
  if (holder === undefined) return `port ${port} is in use (see \`ss -ltnp\` for the process holding it)`
  const orphan = holder.name === "nats-server" ? " (an orphaned nats-server of an earlier run?)" : ""
  return `port ${port} is held by ${holder.name} pid ${holder.pid}${orphan}; stop it (kill ${holder.pid}) or use another port`
}
