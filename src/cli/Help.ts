/**
 * `--help` of every command, rendered here rather than by @effect/cli: its renderer pads the
 * command rows to hundreds of columns, writes ANSI escapes into pipes, shows no defaults and
 * prints `$ start` for `flotilla start`. This one reads the same command tree (the descriptors
 * of @effect/cli 0.77, whose option and argument nodes it walks), wraps at 80 columns, shows
 * every default, and uses bold headings only on a terminal without `NO_COLOR`.
 */
import { type Command, type HelpDoc, Primitive } from "@effect/cli"
import type { Span } from "@effect/cli/HelpDoc/Span"

/** One option of a command, as help shows it. */
export interface OptionHelp {
  readonly names: ReadonlyArray<string>
  /** The value's placeholder ("" for a flag). */
  readonly value: string
  readonly description: string
  /** The default, as text (absent: required, or optional without a value). */
  readonly fallback?: string
  readonly optional: boolean
}

/** One positional argument. */
export interface ArgHelp {
  readonly name: string
  readonly description: string
  readonly optional: boolean
  readonly repeated: boolean
}

/** A command of the tree: what help shows of it. */
export interface CommandHelp {
  readonly name: string
  readonly description: string
  readonly options: ReadonlyArray<OptionHelp>
  readonly args: ReadonlyArray<ArgHelp>
  readonly children: ReadonlyArray<CommandHelp>
}

/** The text of a help document (paragraphs joined by spaces). */
const docText = (doc: HelpDoc.HelpDoc): string => {
  switch (doc._tag) {
    case "Empty":
      return ""
    case "Header":
    case "Paragraph":
      return spanText(doc.value)
    case "Sequence":
      return [docText(doc.left), docText(doc.right)].filter((t) => t !== "").join(" ")
    case "DescriptionList":
      return doc.definitions.map(([s, d]) => `${spanText(s)} ${docText(d)}`).join(" ")
    case "Enumeration":
      return doc.elements.map(docText).join(" ")
  }
}

const spanText = (span: Span): string => {
  switch (span._tag) {
    case "Text":
    case "URI":
      return span.value
    case "Sequence":
      return spanText(span.left) + spanText(span.right)
    default:
      return spanText(span.value)
  }
}

// The option and argument trees are walked through their tags: @effect/cli exposes no reader.
// biome-ignore lint/suspicious/noExplicitAny: internal nodes of @effect/cli (pinned version)
type Node = any

const placeholder = (primitive: Node): string => {
  if (Primitive.isBool(primitive)) return ""
  if (primitive._tag === "Choice")
    return (primitive.alternatives as ReadonlyArray<[string, unknown]>).map(([n]) => n).join("|")
  return Primitive.getTypeName(primitive).toUpperCase()
}

const showDefault = (value: unknown): string | undefined => {
  if (value !== null && typeof value === "object" && "_tag" in value) {
    // Options.optional: an Option; `None` has no value to show.
    return value._tag === "Some" && "value" in value ? showDefault(value.value) : undefined
  }
  if (typeof value === "string") return value === "" ? '""' : value
  if (typeof value === "number" || typeof value === "boolean") return String(value)
  return undefined
}

const optionsOf = (node: Node, fallback?: { readonly value: unknown }): OptionHelp[] => {
  switch (node._tag) {
    case "Single": {
      const isFlag = Primitive.isBool(node.primitiveType)
      const shown = fallback === undefined ? undefined : showDefault(fallback.value)
      return [
        {
          names: [node.fullName, ...node.aliases.map((a: string) => (a.length === 1 ? `-${a}` : `--${a}`))],
          value: placeholder(node.primitiveType),
          description: docText(node.description),
          ...(shown !== undefined && !(isFlag && shown === "false") ? { fallback: shown } : {}),
          optional: fallback !== undefined || isFlag,
        },
      ]
    }
    case "KeyValueMap":
    case "Variadic":
      return optionsOf(node.argumentOption, fallback)
    case "Map":
    case "WithFallback":
      return optionsOf(node.options, fallback)
    case "WithDefault":
      return optionsOf(node.options, { value: node.fallback })
    case "Both":
    case "OrElse":
      return [...optionsOf(node.left, fallback), ...optionsOf(node.right, fallback)]
    default:
      return []
  }
}

const argsOf = (node: Node, optional = false, repeated = false): ArgHelp[] => {
  switch (node._tag) {
    case "Single":
      return [
        {
          name: node.pseudoName._tag === "Some" ? node.pseudoName.value : node.name,
          description: docText(node.description),
          optional,
          repeated,
        },
      ]
    case "Map":
    case "WithFallbackConfig":
      return argsOf(node.args, optional, repeated)
    case "WithDefault":
      return argsOf(node.args, true, repeated)
    case "Variadic":
      return argsOf(node.args, optional || node.min._tag === "None" || node.min.value === 0, true)
    case "Both":
      return [...argsOf(node.left, optional, repeated), ...argsOf(node.right, optional, repeated)]
    default:
      return []
  }
}

const describeDescriptor = (node: Node): CommandHelp => {
  switch (node._tag) {
    case "Standard":
      return {
        name: node.name,
        description: docText(node.description),
        options: optionsOf(node.options),
        args: argsOf(node.args),
        children: [],
      }
    case "GetUserInput":
      return { name: node.name, description: docText(node.description), options: [], args: [], children: [] }
    case "Map":
      return describeDescriptor(node.command)
    case "Subcommands":
      return { ...describeDescriptor(node.parent), children: node.children.map(describeDescriptor) }
    default:
      return { name: "?", description: "", options: [], args: [], children: [] }
  }
}

/** What help shows of a command (of the `flotilla` tree or any other). */
export const describeCommand = <N extends string, R, E, A>(
  command: Command.Command<N, R, E, A>,
): CommandHelp => describeDescriptor(command.descriptor)

/**
 * The command that `--help` after `args` is about: the longest prefix of the non-flag words of
 * `args` naming nested subcommands, with their names.
 */
export const findCommand = (
  root: CommandHelp,
  args: ReadonlyArray<string>,
): { readonly command: CommandHelp; readonly path: ReadonlyArray<string> } => {
  let command = root
  const path = [root.name]
  for (const word of args) {
    if (word.startsWith("-")) continue
    const child = command.children.find((c) => c.name === word)
    if (child === undefined) break
    command = child
    path.push(child.name)
  }
  return { command, path }
}

/** Where help goes: its width and whether it may use bold headings. */
export interface HelpStyle {
  readonly width: number
  readonly color: boolean
}

/** Bold headings only on a terminal, and never with `NO_COLOR` set or `TERM=dumb`. */
export const terminalStyle = (stream: {
  readonly isTTY?: boolean
  readonly columns?: number
}): HelpStyle => ({
  width: Math.max(40, Math.min(stream.columns ?? 80, 100)),
  color:
    stream.isTTY === true &&
    (process.env.NO_COLOR === undefined || process.env.NO_COLOR === "") &&
    process.env.TERM !== "dumb",
})

/** `text` wrapped at `width` columns, every line after the first indented by `indent`. */
export const wrap = (text: string, width: number, indent: number, firstColumn = indent): string[] => {
  const lines: string[] = []
  let line = ""
  let room = width - firstColumn
  // A no-break space (U+00A0) glues words that must stay on one line; it prints as a space.
  for (const word of text.split(/[ \t\r\n]+/).filter((w) => w !== "")) {
    if (line !== "" && line.length + 1 + word.length > room) {
      lines.push(line)
      line = word
      room = width - indent
    } else line = line === "" ? word : `${line} ${word}`
  }
  lines.push(line)
  return lines.map((l) => l.replaceAll("\u00a0", " "))
}

const LEFT = 26

/** Two columns: a name, then its wrapped description (on the next line when the name is long). */
const rows = (items: ReadonlyArray<readonly [string, string]>, width: number): string[] => {
  const out: string[] = []
  const pad = " ".repeat(LEFT + 4)
  for (const [name, text] of items) {
    const head = `  ${name}`
    if (text === "") out.push(head)
    else if (head.length <= LEFT + 2) {
      const [first, ...rest] = wrap(text, width, LEFT + 4)
      out.push(`${head.padEnd(LEFT + 4)}${first}`, ...rest.map((l) => pad + l))
    } else out.push(head, ...wrap(text, width, LEFT + 4).map((l) => pad + l))
  }
  return out
}

const optionRow = (o: OptionHelp): readonly [string, string] => {
  const names = [...o.names].sort((a, b) => a.length - b.length).join(", ")
  const head = o.value === "" ? names : `${names} ${o.value}`
  const text = o.fallback === undefined ? o.description : `${o.description} (default:\u00a0${o.fallback})`
  return [head, text]
}

const argName = (a: ArgHelp): string => {
  const base = `<${a.name}>${a.repeated ? "..." : ""}`
  return a.optional ? `[${base}]` : base
}

/** The options every command takes (handled by the command-line library and by main.ts). */
const GLOBAL_OPTIONS: ReadonlyArray<readonly [string, string]> = [
  [
    "--log-level LEVEL",
    "lowest level of log lines: all, trace, debug, info, warning, error, fatal or none (default: info)",
  ],
  ["--verbose", "on an error, print its causes as well"],
  ["-h, --help", "show this help"],
]

/** The help text of the command at `path` (`["flotilla", "keyspace", "create"]`). */
export const renderHelp = (command: CommandHelp, path: ReadonlyArray<string>, style: HelpStyle): string => {
  const heading = (t: string) => (style.color ? `\u001b[1m${t}\u001b[0m` : t)
  const out: string[] = []
  const usage = [
    ...path,
    ...(command.children.length > 0 ? ["<command>"] : []),
    ...(command.options.length > 0 ? ["[options]"] : []),
    ...command.args.map(argName),
  ].join(" ")
  out.push(
    heading("USAGE"),
    ...wrap(usage, style.width, 4, 2).map((l, i) => (i === 0 ? `  ${l}` : `    ${l}`)),
  )
  if (command.description !== "") out.push("", ...wrap(command.description, style.width, 0))
  if (command.children.length > 0) {
    out.push("", heading("COMMANDS"))
    out.push(
      ...rows(
        command.children.map((c) => [c.name, c.description] as const),
        style.width,
      ),
    )
  }
  if (command.args.length > 0) {
    out.push("", heading("ARGUMENTS"))
    out.push(
      ...rows(
        command.args.map((a) => [argName(a), a.description] as const),
        style.width,
      ),
    )
  }
  if (command.options.length > 0) {
    out.push("", heading("OPTIONS"))
    out.push(...rows(command.options.map(optionRow), style.width))
  }
  out.push("", heading("GLOBAL OPTIONS"))
  out.push(
    ...rows(
      path.length === 1 ? [...GLOBAL_OPTIONS, ["--version", "print the version"]] : GLOBAL_OPTIONS,
      style.width,
    ),
  )
  if (command.children.length > 0)
    out.push("", `Run \`${path.join(" ")} <command> --help\` for the options of a command.`)
  return out.join("\n")
}
