#!/usr/bin/env node
// tests/arrow/read-arrow.js — reads an Arrow IPC *stream* file with the npm
// `apache-arrow` package (an independent reader) and prints one JSON line:
//
//   {"fields":[{"name":"a","type":"Int64","nullable":true}, ...],
//    "batches":2,"rows":[[...], ...]}
//
// Values are printed so that the C test can compare them exactly:
// 64-bit integers and decimals as decimal strings, timestamps and times as
// {"ts":"<raw integer>","unit":"MICROSECOND","tz":"UTC"}, dates as the raw
// day count, binary as base64, lists as arrays, structs as objects, maps as
// [[key, value], ...].
//
// Usage: node tests/arrow/read-arrow.js FILE   (exit 2 on a read error)
'use strict';
const fs = require('fs');
const arrow = require('apache-arrow');

function typeName(t) {
    const s = String(t);
    return s;
}

function decimalToString(words, scale) {
    // words: Uint32Array of 4 little-endian 32-bit words, two's complement.
    let v = 0n;
    for (let i = words.length - 1; i >= 0; i--) v = (v << 32n) | BigInt(words[i]);
    const bits = BigInt(words.length * 32);
    if (v >> (bits - 1n)) v -= 1n << bits;
    let s = (v < 0n ? -v : v).toString();
    if (scale > 0) {
        s = s.padStart(scale + 1, '0');
        s = s.slice(0, s.length - scale) + '.' + s.slice(s.length - scale);
    }
    return (v < 0n ? '-' : '') + s;
}

function plain(v, type) {
    if (v === null || v === undefined) return null;
    const T = arrow.Type;
    switch (type.typeId) {
    case T.Int:
        return typeof v === 'bigint' ? v.toString() : v;
    case T.Float:
        return Number.isFinite(v) ? v : String(v); // NaN, Infinity, -Infinity
    case T.Bool:
    case T.Utf8:
    case T.LargeUtf8:
        return v;
    case T.Binary:
    case T.LargeBinary:
    case T.FixedSizeBinary:
        return Buffer.from(v).toString('base64');
    case T.Decimal:
        return decimalToString(v, type.scale);
    case T.Date:
        return v; // milliseconds since the epoch (DateDay is converted by the reader)
    case T.Timestamp:
    case T.Time:
        return {raw: typeof v === 'bigint' ? v.toString() : String(v),
                unit: arrow.TimeUnit[type.unit], tz: type.timezone === undefined ? null : type.timezone};
    case T.List:
    case T.FixedSizeList: {
        const out = [];
        for (let i = 0; i < v.length; i++) out.push(plain(v.get(i), type.children[0].type));
        return out;
    }
    case T.Struct: {
        const out = {};
        for (const f of type.children) out[f.name] = plain(v[f.name], f.type);
        return out;
    }
    case T.Map: {
        const entries = type.children[0].type.children;
        const out = [];
        for (const [k, val] of v) out.push([plain(k, entries[0].type), plain(val, entries[1].type)]);
        return out;
    }
    case T.Null:
        return null;
    default:
        return {unsupported: typeName(type), value: String(v)};
    }
}

function fieldInfo(f) {
    const o = {name: f.name, type: typeName(f.type), nullable: f.nullable};
    if (f.type.children && f.type.children.length) o.children = f.type.children.map(fieldInfo);
    return o;
}

function main() {
    const file = process.argv[2];
    const bytes = fs.readFileSync(file);
    const reader = arrow.RecordBatchReader.from(bytes);
    reader.open();
    const fields = reader.schema.fields;
    const rows = [];
    let batches = 0;
    for (const batch of reader) {
        // For a stream with a schema and no record batch the reader yields
        // one empty placeholder batch: count only batches with rows.
        if (batch.numRows > 0) batches++;
        for (let r = 0; r < batch.numRows; r++) {
            const row = [];
            for (let c = 0; c < fields.length; c++) {
                // Timestamps and times: the raw integer, not the reader's
                // millisecond conversion, so units can be checked exactly.
                const col = batch.getChildAt(c);
                const t = fields[c].type;
                if ((t.typeId === arrow.Type.Timestamp || t.typeId === arrow.Type.Time) && col.isValid(r)) {
                    const d = col.data[0];
                    const raw = d.values[d.offset + r];
                    row.push({raw: String(raw), unit: arrow.TimeUnit[t.unit],
                              tz: t.timezone === undefined ? null : t.timezone});
                } else {
                    row.push(plain(col.get(r), t));
                }
            }
            rows.push(row);
        }
    }
    process.stdout.write(JSON.stringify({fields: fields.map(fieldInfo), batches, rows}) + '\n');
}

try {
    main();
} catch (e) {
    process.stderr.write('read-arrow: ' + (e && e.stack ? e.stack : e) + '\n');
    process.exit(2);
}
