/**
 * The dashboard in a real headless Chromium (Debian's `chromium`, driven by playwright-core)
 * against a 3-node cluster of real processes: the page shows three nodes up, a throughput plot
 * that moves under a KV write load, and a SIGKILLed node as down within 10 s. The screenshot
 * goes to a temporary directory (and to docs/dashboard.png with FLOTILLA_DASHBOARD_SCREENSHOT=docs).
 */
import { existsSync, mkdtempSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ProcessCluster } from "../../src/testing/ProcessCluster.js"
import { KvRouter, Workload } from "../placement/KvWorkload.js"

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p))

let cluster: ProcessCluster
let browser: Browser
let page: Page
let workload: Workload | undefined

/** The dashboard's state in the page: the throughput series and each node row's up/down. */
const view = () =>
  // A script string: the test is compiled without the DOM types.
  page.evaluate(`(() => ({
    throughput: [...window.flotillaDashboard.throughput],
    rows: [...document.querySelectorAll("#nodes tbody tr")].map((r) => ({
      node: Number(r.getAttribute("data-node")),
      up: r.getAttribute("data-up") === "true",
    })),
  }))()`) as Promise<{
    readonly throughput: number[]
    readonly rows: ReadonlyArray<{ readonly node: number; readonly up: boolean }>
  }>

describe.skipIf(CHROMIUM === undefined)("the dashboard in a browser (needs Debian's chromium)", () => {
  beforeAll(async () => {
    cluster = await ProcessCluster.start({
      nodes: 3,
      cluster: "dash",
      managed: { clusterSettings: { heartbeatTimeoutMs: 2_000, downTimeoutMs: 60_000 } },
      nodeArgs: ["--report-ms", "300", "--placement-ms", "200"],
    })
    const created = await cluster.meta({
      _tag: "CreateKeyspace",
      name: "kv",
      shards: 3,
      replicationFactor: 3,
      at: Date.now(),
    })
    expect(created._tag).toBe("KeyspaceCreated")
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] })
    page = await browser.newPage({ viewport: { width: 1200, height: 1000 } })
  }, 180_000)

  afterAll(async () => {
    await workload?.stop()
    await browser?.close()
    await cluster?.close()
  })

  it("shows three nodes up and a moving throughput plot under load, then a killed node down within 10 s", async () => {
    await page.goto(cluster.nodes[0]!.httpUrl!)
    await cluster.waitFor(
      "three nodes up on the page",
      async () => {
        const v = await view()
        return v.rows.length === 3 && v.rows.every((r) => r.up) ? true : undefined
      },
      60_000,
      250,
    )
    const router = new KvRouter(cluster.client, cluster.cluster)
    await router.refresh()
    workload = new Workload(router, { writers: 4, prefix: "d", pauseMs: 2, deadlineMs: 30_000 })
    workload.start()
    // Moving: several recent points with writes, and not all the same.
    await cluster.waitFor(
      "the throughput plot moving",
      async () => {
        const recent = (await view()).throughput.slice(-6)
        const busy = recent.filter((t) => t > 0)
        return busy.length >= 4 && new Set(recent.map((t) => Math.round(t))).size > 1 ? true : undefined
      },
      60_000,
      500,
    )
    expect(await page.locator("#throughput canvas").count()).toBeGreaterThan(0)
    const dir =
      process.env.FLOTILLA_DASHBOARD_SCREENSHOT === "docs"
        ? "docs"
        : mkdtempSync(join(tmpdir(), "flotilla-dash-"))
    const shot = join(dir, "dashboard.png")
    await page.screenshot({ path: shot, fullPage: true })
    expect(statSync(shot).size).toBeGreaterThan(10_000)

    await cluster.nodes[2]!.kill("SIGKILL")
    const killedAt = Date.now()
    await cluster.waitFor(
      "node 3 shown down",
      async () => ((await view()).rows.find((r) => r.node === 3)?.up === false ? true : undefined),
      10_000,
      100,
    )
    expect(Date.now() - killedAt).toBeLessThan(10_000)
    const rows = (await view()).rows
    expect(rows.filter((r) => r.up).map((r) => r.node)).toEqual([1, 2])
  }, 180_000)
})
