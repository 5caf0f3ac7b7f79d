import { describe, expect, it } from "vitest"
import { exposition, Histogram } from "../../src/runtime/Prometheus.js"

describe("Prometheus text exposition", () => {
  it("writes counters and gauges with HELP, TYPE and escaped labels", () => {
    const text = exposition([
      { name: "x_total", help: "a \\ help\nline", type: "counter", samples: [{ value: 3 }] },
      {
        name: "y",
        help: "g",
        type: "gauge",
        samples: [{ labels: { keyspace: 'a"b\\c\nd' }, value: 1.5 }],
      },
    ])
    expect(text).toBe(
      [
        "# HELP x_total a \\\\ help\\nline",
        "# TYPE x_total counter",
        "x_total 3",
        "# HELP y g",
        "# TYPE y gauge",
        'y{keyspace="a\\"b\\\\c\\nd"} 1.5',
        "",
      ].join("\n"),
    )
  })

  it("writes histograms with cumulative buckets, +Inf, sum and count", () => {
    const h = new Histogram([0.1, 1])
    for (const v of [0.05, 0.1, 0.5, 2, 3]) h.observe(v)
    const text = exposition([
      {
        name: "lat_seconds",
        help: "l",
        type: "histogram",
        histograms: [{ labels: { op: "get" }, histogram: h }],
      },
    ])
    expect(text.split("\n").slice(2, -1)).toEqual([
      'lat_seconds_bucket{op="get",le="0.1"} 2',
      'lat_seconds_bucket{op="get",le="1"} 3',
      'lat_seconds_bucket{op="get",le="+Inf"} 5',
      'lat_seconds_sum{op="get"} 5.65',
      'lat_seconds_count{op="get"} 5',
    ])
    expect(h.quantile(0.5)).toBe(1)
    expect(new Histogram([1]).quantile(0.99)).toBe(0)
  })

  it("refuses invalid metric and label names", () => {
    expect(() => exposition([{ name: "bad-name", help: "", type: "gauge", samples: [] }])).toThrow(
      /metric name/,
    )
    expect(() =>
      exposition([{ name: "ok", help: "", type: "gauge", samples: [{ labels: { "b-ad": "x" }, value: 1 }] }]),
    ).toThrow(/label name/)
  })
})
