import { Clock, Effect } from "effect"
import type { KvRevClientService, Lease } from "../../../src/client/KvRevClient.js"

/**
 * Keeps `lease` (of TTL `ttlMs`) alive every `ttlMs / 6` until `until` (virtual ms). The send
 * time of the last keep-alive answered, and whether the lease was found ended (its keep-alives
 * could not land for a whole TTL: a client cut off that long loses its lease, as in etcd).
 */
export const keepAlive = (c: KvRevClientService, lease: Lease, until: number, ttlMs: number) =>
  Effect.gen(function* () {
    let lastSent = 0
    for (;;) {
      const sent = yield* Clock.currentTimeMillis
      if (sent >= until) return { lastSent, ended: false }
      const r = yield* Effect.either(c.keepAlive(lease, { deadline: `${ttlMs / 2} millis` }))
      if (r._tag === "Right") lastSent = sent
      else if (r.left._tag === "LeaseNotFound") return { lastSent, ended: true }
      yield* Effect.sleep(`${ttlMs / 6} millis`)
    }
  })
