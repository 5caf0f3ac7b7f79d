/**
 * How a failed command reports itself: one line on stderr, `flotilla: <what went wrong>`, never a
 * schema dump nor the same error twice; `--verbose` adds the full cause. Errors of the command
 * line itself (unknown flag, bad value) are printed by @effect/cli as it parses, so they are not
 * printed again here.
 */
import { ValidationError } from "@effect/cli"
import { Cause, Option, ParseResult } from "effect"

/** Longest quote of a message or value in the one-line report. */
const MAX_LINE = 300

const clip = (text: string): string => {
  const line = text.split("\n")[0] ?? ""
  return line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line
}

/** One line for an error value of any shape. */
export const describeError = (error: unknown): string => {
  if (ParseResult.isParseError(error)) {
    const [first] = ParseResult.ArrayFormatter.formatErrorSync(error)
    const at = first === undefined || first.path.length === 0 ? "" : ` at ${first.path.join(".")}`
    return clip(`invalid value${at}: ${first?.message ?? "does not match its schema"}`)
  }
  if (error instanceof Error && !("_tag" in error)) return clip(error.message)
  if (error !== null && typeof error === "object" && "_tag" in error) {
    const { _tag, message, ...rest } = error as { _tag: unknown; message?: unknown } & Record<string, unknown>
    if (typeof message === "string" && message !== "") return clip(`${String(_tag)}: ${message}`)
    const fields = Object.entries(rest).filter(([k]) => k !== "stack" && k !== "cause")
    if (fields.length === 0) return String(_tag)
    return clip(`${String(_tag)} ${JSON.stringify(Object.fromEntries(fields))}`)
  }
  return clip(String(error))
}

/**
 * The lines to print for a failed command: none for an interruption (Ctrl-C) or a command-line
 * error @effect/cli already printed; otherwise one, plus the whole cause with `verbose`.
 */
export const failureLines = (cause: Cause.Cause<unknown>, verbose: boolean): ReadonlyArray<string> => {
  if (Cause.isInterruptedOnly(cause)) return []
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure) && ValidationError.isValidationError(failure.value)) return []
  const what = Option.isSome(failure)
    ? describeError(failure.value)
    : Option.match(Cause.dieOption(cause), {
        onNone: () => "failed",
        onSome: (defect) => `internal error: ${describeError(defect)}`,
      })
  const line = `flotilla: ${what}`
  return verbose ? [line, Cause.pretty(cause)] : [line]
}

/** Removes ANSI escape sequences (for output that is not a colour terminal). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the escape character is the point
export const stripAnsi = (text: string): string => text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, "")

/**
 * A hint for an error of a client command: no metadata leader answering usually means a wrong
 * `--cluster` (or no node running); an unknown keyspace means none was created yet.
 */
export const clientHint = (message: string, cluster: string): string | undefined => {
  if (message.includes("no metadata leader answers"))
    return `is cluster "${cluster}" running, and is --cluster right? (its nodes answer on flotilla.${cluster}.cli.meta)`
  if (/UnknownKeyspace|no keyspace/i.test(message))
    return "create the keyspace first: flotilla keyspace create kv"
  return undefined
}
