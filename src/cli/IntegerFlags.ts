/**
 * Integer flags with their range checked while the command line is parsed, so a bad value is
 * refused with one line naming the flag (`--shards must be in 1..16384, got -4`) before any
 * connection is made.
 */
import { HelpDoc, Options, ValidationError } from "@effect/cli"
import { Effect } from "effect"

/** `value` when it is in `min..max`, or the refusal naming `--name`. */
export const checkRange = (name: string, min: number, max: number, value: number): string | undefined =>
  Number.isSafeInteger(value) && value >= min && value <= max
    ? undefined
    : `--${name} must be in ${min}..${max}, got ${value}`

/** An integer option refused outside `min..max`. */
export const integerIn = (name: string, min: number, max: number): Options.Options<number> =>
  Options.integer(name).pipe(
    Options.mapEffect((n) => {
      const bad = checkRange(name, min, max, n)
      return bad === undefined ? Effect.succeed(n) : Effect.fail(ValidationError.invalidValue(HelpDoc.p(bad)))
    }),
  )
