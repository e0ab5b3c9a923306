// tests/hyparquet/read.mjs — prints a Parquet file as JSON using hyparquet, a
// reader independent of DuckDB (which wrote the file). Used by the ingestion
// integration tests to cross-check what the server stored.
//
// Usage: node tests/hyparquet/read.mjs <file.parquet>
// Output (one JSON object on stdout):
//   {"num_rows": n,
//    "columns": [{"name", "type", "converted_type", "logical_type", "repetition"}],
//    "metadata": {"key": "value", ...},          // key/value metadata
//    "rows": [{"col": value, ...}, ...]}
// Values: null stays null, booleans stay booleans, strings stay strings;
// every number (BigInt or double) is printed as a string so nothing is lost:
// doubles as JavaScript's shortest round-trip text ("-0" for negative zero),
// integers in full; timestamps as their raw integer count of their unit.
import { readFileSync } from 'node:fs'
import { parquetMetadata, parquetReadObjects } from 'hyparquet'

const path = process.argv[2]
if (!path) {
  console.error('usage: node read.mjs <file.parquet>')
  process.exit(2)
}
const buf = readFileSync(path)
const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
const raw = (v) => v // keep timestamps as BigInt counts of their unit
const parsers = {
  timestampFromMilliseconds: raw,
  timestampFromMicroseconds: raw,
  timestampFromNanoseconds: raw,
}
const metadata = parquetMetadata(file, { parsers })
const rows = await parquetReadObjects({ file, metadata, parsers, utf8: true })

function val(v) {
  if (v === null || v === undefined) return null
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v)
  if (typeof v === 'boolean' || typeof v === 'string') return v
  if (v instanceof Date) return 'Date:' + v.toISOString()
  if (v instanceof Uint8Array) return 'bytes:' + Buffer.from(v).toString('hex')
  return JSON.parse(JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x)))
}

const out = {
  num_rows: String(metadata.num_rows),
  columns: metadata.schema.slice(1).map((e) => ({
    name: e.name,
    type: e.type ?? null,
    converted_type: e.converted_type ?? null,
    logical_type: e.logical_type ? val(e.logical_type) : null,
    repetition: e.repetition_type ?? null,
  })),
  metadata: Object.fromEntries((metadata.key_value_metadata ?? []).map((kv) => [kv.key, kv.value ?? null])),
  rows: rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, val(v)]))),
}
process.stdout.write(JSON.stringify(out) + '\n')
