import { createServer } from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { connect } from "@nats-io/transport-node"
import { Effect, Exit, Scope } from "effect"
import * as NatsServer from "../../src/transport/NatsServer.js"

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const canConnect = async (url: string) => {
  try {
    const nc = await connect({ servers: url, reconnect: false, timeout: 2_000 })
    await nc.close()
    return true
  } catch {
    return false
  }
}

describe("nats-server launcher (Promise API)", () => {
  it("starts on a free port other than 4222, stops by PID, and restarts on the same port", async () => {
    const server = await NatsServer.startNatsServer()
    try {
      expect(server.port).not.toBe(4222)
      expect(server.url).toBe(`nats://127.0.0.1:${server.port}`)
      const pid = server.pid()!
      expect(alive(pid)).toBe(true)
      expect(await canConnect(server.url)).toBe(true)

      await server.stop()
      expect(server.isRunning()).toBe(false)
      expect(server.pid()).toBeUndefined()
      expect(alive(pid)).toBe(false)
      expect(await canConnect(server.url)).toBe(false)

      await server.start()
      expect(server.pid()).not.toBe(pid)
      expect(await canConnect(server.url)).toBe(true)
      const second = server.pid()!
      await server.restart()
      expect(alive(second)).toBe(false)
      expect(await canConnect(server.url)).toBe(true)
    } finally {
      await server.close()
    }
    expect(server.isRunning()).toBe(false)
  })

  it("never hands out port 4222", async () => {
    for (let i = 0; i < 20; i++) expect(await NatsServer.freePort()).not.toBe(4222)
  })

  it("says clearly when nats-server is not installed", async () => {
    const missing = NatsServer.startNatsServer({ binary: "/nonexistent/bin/nats-server" })
    await expect(missing).rejects.toBeInstanceOf(NatsServer.NatsServerNotInstalled)
    await expect(missing).rejects.toThrow(
      /nats-server is not installed: looked for \/nonexistent\/bin\/nats-server/,
    )
  })

  it("reports a server that cannot start with its output", async () => {
    const bad = NatsServer.startNatsServer({ config: "authorization { user: " })
    await expect(bad).rejects.toBeInstanceOf(NatsServer.NatsServerStartFailed)
    await expect(NatsServer.startNatsServer({ config: "authorization { user: " })).rejects.toThrow(
      /nats-server exited[\s\S]*nats-server output/,
    )
  })

  it("fails when an explicitly requested port is taken", async () => {
    const holder = createServer()
    const port = await NatsServer.freePort()
    await new Promise<void>((resolve) => holder.listen(port, "127.0.0.1", resolve))
    try {
      await expect(NatsServer.startNatsServer({ port, startTimeoutMillis: 3_000 })).rejects.toBeInstanceOf(
        NatsServer.NatsServerStartFailed,
      )
    } finally {
      await new Promise((resolve) => holder.close(resolve))
    }
  })
})

describe("nats-server launcher (Effect API)", () => {
  it.scopedLive("is a scoped resource: stopped and cleaned up when the scope closes", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const server = yield* NatsServer.make().pipe(Scope.extend(scope))
      const pid = (yield* server.pid)!
      expect(yield* Effect.promise(() => canConnect(server.url))).toBe(true)
      yield* server.restart
      expect(yield* Effect.promise(() => canConnect(server.url))).toBe(true)
      const restarted = (yield* server.pid)!
      expect(restarted).not.toBe(pid)
      yield* Scope.close(scope, Exit.void)
      expect(alive(restarted)).toBe(false)
    }),
  )

  it.scopedLive("fails with a NotInstalled NatsServerError when the binary is missing", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(NatsServer.make({ binary: "/nonexistent/nats-server" }))
      expect(e).toMatchObject({ _tag: "NatsServerError", reason: "NotInstalled" })
    }),
  )
})
