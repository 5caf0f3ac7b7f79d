/**
 * Retry pacing of the client: exponential backoff with full jitter, bounded by the caller's
 * deadline. Pure arithmetic (the random draw is passed in) so that the schedule is testable.
 *
 * The wait before retry `n` (n = 0 for the first retry) is a uniform draw in
 * `[0, min(max, base * 2^n)]` ("full jitter": clients that failed together spread out
 * instead of retrying in lock step), then cut so that it never passes the deadline.
 */

/** Backoff settings, in milliseconds. */
export interface BackoffSettings {
  /** The ceiling of the first retry's wait. */
  readonly baseMs: number
  /** The largest ceiling. */
  readonly maxMs: number
}

/** Defaults: 10 ms doubling up to 500 ms. */
export const defaultBackoff: BackoffSettings = { baseMs: 10, maxMs: 500 }

/** The ceiling of retry `n`'s wait: `min(max, base * 2^n)`. */
export const ceiling = (settings: BackoffSettings, retry: number): number =>
  Math.min(settings.maxMs, settings.baseMs * 2 ** Math.min(Math.max(0, retry), 30))

/**
 * The wait before retry `n`, given a uniform draw `random01` in [0, 1) and the time left
 * before the deadline (never more than that, never negative).
 */
export const delay = (
  settings: BackoffSettings,
  retry: number,
  random01: number,
  remainingMs: number,
): number => Math.max(0, Math.min(Math.floor(ceiling(settings, retry) * random01), remainingMs))
