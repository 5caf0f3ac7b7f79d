/**
 * A rate limit for warning lines about dropped input: a flood of forged or broken messages
 * must not become a flood of log lines. At most `perWindow` lines pass per window; the lines
 * dropped are summed up in one line when the next window opens. Counters, not logs, are the
 * complete record (the node's status reports them).
 */

/** Lines passed per window by default. */
export const DEFAULT_LINES_PER_WINDOW = 20
/** Default window length. */
export const DEFAULT_WINDOW_MS = 10_000

export class LogLimiter {
  private windowStart = Number.NEGATIVE_INFINITY
  private passed = 0
  private suppressed = 0

  constructor(
    private readonly what: string,
    private readonly perWindow = DEFAULT_LINES_PER_WINDOW,
    private readonly windowMs = DEFAULT_WINDOW_MS,
  ) {
    if (!(perWindow >= 1 && windowMs > 0))
      throw new RangeError("LogLimiter needs perWindow >= 1 and windowMs > 0")
  }

  /** The lines to log now for `line` at time `now` (ms): none, the line, or a summary and the line. */
  admit(line: string, now: number): readonly string[] {
    const out: string[] = []
    if (now - this.windowStart >= this.windowMs) {
      if (this.suppressed > 0)
        out.push(
          `${this.what}: ${this.suppressed} similar line(s) suppressed in the last ${this.windowMs} ms`,
        )
      this.windowStart = now
      this.passed = 0
      this.suppressed = 0
    }
    if (this.passed < this.perWindow) {
      this.passed++
      out.push(line)
    } else {
      this.suppressed++
    }
    return out
  }

  /** Lines suppressed in the current window so far. */
  get suppressedNow(): number {
    return this.suppressed
  }
}
