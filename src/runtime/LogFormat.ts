/**
 * How a process writes its log lines: `text` (Effect's logfmt lines) or `json`, one object a
 * line with `time` (ISO 8601), `level`, `node` and `name` when known, `group` where the line is
 * about one group (a `group` annotation, or a message that starts with "group N"), `message`,
 * `cause` when there is one, and the other annotations as fields (docs/observability.md).
 */
import { Cause, HashMap, Inspectable, Layer, List, Logger } from "effect"

/** What the JSON lines say about the process: set `node` once the node's id is known. */
export interface LogContext {
  node?: number
  name?: string
}

const GROUP_PREFIX = /^group (\d+)\b/

/** The message as one string (Effect passes an array of the values given to `Effect.log`). */
const messageText = (message: unknown): string => {
  const parts = Array.isArray(message) ? message : [message]
  return parts.map((p) => (typeof p === "string" ? p : Inspectable.toStringUnknown(p))).join(" ")
}

/** A log entry as a record (the fields of a JSON line). */
export const logRecord = (
  entry: Logger.Logger.Options<unknown>,
  context: LogContext = {},
): Record<string, unknown> => {
  const message = messageText(entry.message)
  const line: Record<string, unknown> = {
    time: entry.date.toISOString(),
    level: entry.logLevel.label.toLowerCase(),
  }
  if (context.node !== undefined) line.node = context.node
  if (context.name !== undefined) line.name = context.name
  const annotations = HashMap.toEntries(entry.annotations)
  const group = annotations.find(([k]) => k === "group")?.[1] ?? GROUP_PREFIX.exec(message)?.[1]
  if (group !== undefined) line.group = Number(group)
  line.message = message
  if (!Cause.isEmpty(entry.cause)) line.cause = Cause.pretty(entry.cause)
  for (const [k, v] of annotations) if (!(k in line)) line[k] = v
  const spans = List.toArray(entry.spans)
  if (spans.length > 0) line.spans = spans.map((s) => s.label)
  return line
}

/** One JSON line for a log entry. */
export const jsonLine = (entry: Logger.Logger.Options<unknown>, context: LogContext = {}): string =>
  JSON.stringify(logRecord(entry, context))

/** A logger writing `jsonLine`s to `write` (default: standard output). */
export const jsonLogger = (
  context: LogContext = {},
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Logger.Logger<unknown, void> => Logger.make((entry) => write(jsonLine(entry, context)))

/**
 * The process's logger for `--log-format`: JSON lines instead of Effect's text ones (the
 * default logger, or the pretty one `runMain` installs), or the text lines as they are.
 */
export const layer = (format: "json" | "text", context: LogContext = {}): Layer.Layer<never> =>
  format === "json"
    ? Layer.merge(
        Logger.remove(Logger.prettyLoggerDefault),
        Logger.replace(Logger.defaultLogger, jsonLogger(context)),
      )
    : Layer.empty
