/**
 * `npm run fuzz [-- --inputs N --seed S]`: feeds every decoder of outside input (Decoders.ts)
 * generated and mutated inputs — a share of fresh valid encodings, random bytes, and mutations
 * of valid encodings (Mutate.ts) — `N` in total (default 1,050,000), and prints one JSON line
 * per decoder, `{"fuzz":"<decoder>","inputs":N,"accepted":A,"threw":T}`, then a total line.
 * Every input that threw past its decoder is printed (hex, first 256 bytes) on stderr, and the
 * exit code is 1 if any did. The same seed replays the same inputs.
 */
import { DECODERS, type FuzzDecoder, tryDecode } from "./Decoders.js"
import { mutate, Rng } from "./Mutate.js"

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  if (i < 0) return fallback
  const v = Number(process.argv[i + 1])
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`--${name} needs a non-negative integer`)
  return v
}

const total = arg("inputs", 1_050_000)
const seed = arg("seed", 1)
const POOL = 400
const MAX_REPORTED = 20

interface Result {
  readonly fuzz: string
  readonly inputs: number
  readonly accepted: number
  readonly threw: number
  readonly ms: number
}

const hex = (b: Uint8Array) => Buffer.from(b.subarray(0, 256)).toString("hex")

const fuzzOne = (decoder: FuzzDecoder, inputs: number, decoderSeed: number): Result => {
  const started = Date.now()
  const pool = decoder.valid(decoderSeed, POOL)
  const rng = new Rng(decoderSeed)
  let accepted = 0
  let threw = 0
  for (let i = 0; i < inputs; i++) {
    const kind = rng.int(10)
    let input: Uint8Array
    if (kind === 0) input = pool[rng.int(pool.length)]!
    else if (kind === 1) {
      input = new Uint8Array(rng.int(120))
      for (let k = 0; k < input.length; k++) input[k] = rng.int(256)
    } else input = mutate(pool[rng.int(pool.length)]!, pool[rng.int(pool.length)]!, rng)
    const outcome = tryDecode(decoder, input)
    if (outcome === "accepted") accepted++
    else if (outcome !== "refused") {
      threw++
      if (threw <= MAX_REPORTED)
        process.stderr.write(
          `${JSON.stringify({ fuzz: decoder.name, threw: String(outcome.threw).slice(0, 300), input: hex(input) })}\n`,
        )
    }
  }
  return { fuzz: decoder.name, inputs, accepted, threw, ms: Date.now() - started }
}

const perDecoder = Math.ceil(total / DECODERS.length)
let inputs = 0
let threw = 0
for (const [i, decoder] of DECODERS.entries()) {
  const r = fuzzOne(decoder, perDecoder, seed * 1000 + i)
  inputs += r.inputs
  threw += r.threw
  process.stdout.write(`${JSON.stringify(r)}\n`)
}
process.stdout.write(`${JSON.stringify({ fuzz: "total", inputs, threw, seed })}\n`)
process.exitCode = threw === 0 ? 0 : 1
