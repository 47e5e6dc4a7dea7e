/**
 * One Parquet column chunk, encoded straight from a buffered leaf (columns.ts): its
 * levels are already Dremel levels and its values already PLAIN bytes, so a chunk costs
 * a few typed arrays, never one JS value per cell.
 *
 * What it writes is what hyparquet-writer writes (the page headers and the footer are
 * its thrift code): an optional dictionary page (PLAIN) and DATA_PAGE_V2 pages of about
 * 1 MiB of values, cut at row boundaries; levels RLE/bit-packed and uncompressed, values
 * compressed with the file's codec. Values are dictionary-encoded (RLE_DICTIONARY) when a
 * dictionary at least halves them (hyparquet-writer's rule, with its sampling), PLAIN
 * otherwise (booleans always PLAIN). Chunk statistics: min and max (byte arrays in
 * unsigned byte order, doubles without NaN, ±0 as -0 / +0), null count, NaN count.
 */
import { zstdCompressSync, gzipSync } from 'node:zlib';
import type { ColumnChunk, CompressionCodec, Encoding, PageHeader } from 'hyparquet';
import { ByteWriter } from 'hyparquet-writer';
import { writePageHeader } from 'hyparquet-writer/src/datapage.js';
import { writeRleBitPackedHybrid } from 'hyparquet-writer/src/encoding.js';
import { snappyCompress } from './snappy.js';
import type { Leaf, LeafType } from './columns.js';

/** Values bytes of a data page (hyparquet-writer's default page size). */
const PAGE_BYTES = 1024 * 1024;

export type ParquetCodec = 'SNAPPY' | 'ZSTD' | 'GZIP' | 'UNCOMPRESSED';

const COMPRESS: Record<ParquetCodec, (b: Uint8Array) => Uint8Array> = {
  SNAPPY: (b) => snappyCompress(b),
  ZSTD: (b) => zstdCompressSync(b),
  GZIP: (b) => gzipSync(b),
  UNCOMPRESSED: (b) => b,
};

const PHYSICAL: Record<LeafType, 'INT64' | 'DOUBLE' | 'BOOLEAN' | 'FIXED_LEN_BYTE_ARRAY' | 'BYTE_ARRAY'> = {
  INT64: 'INT64',
  DOUBLE: 'DOUBLE',
  BOOLEAN: 'BOOLEAN',
  FIXED20: 'FIXED_LEN_BYTE_ARRAY',
  BYTE_ARRAY: 'BYTE_ARRAY',
};

function bitWidth(max: number): number {
  return max === 0 ? 0 : 32 - Math.clz32(max);
}

/** What a chunk is written to: the file's writer, which takes fresh arrays without copying them. */
export interface ChunkOutput extends ByteWriter {
  /** Appends bytes that nobody changes afterwards (a compressed page): no copy. */
  appendOwned(bytes: Uint8Array): void;
}

/**
 * Scratch space, reused from chunk to chunk (encoding is synchronous, one chunk at a
 * time in the process): the page writers and the dictionary's arrays.
 */
const scratch = {
  levels: new ByteWriter(64 * 1024),
  values: new ByteWriter(64 * 1024),
  table: new Int32Array(0),
  entries: new Int32Array(0),
  entryHash: new Int32Array(0),
  indexes: new Int32Array(0),
};

function reset(w: ByteWriter): ByteWriter {
  w.index = 0;
  w.offset = 0;
  // A writer that grew for a big page does not keep its buffer.
  if (w.buffer.byteLength > 2 * PAGE_BYTES) {
    w.buffer = new ArrayBuffer(64 * 1024);
    w.view = new DataView(w.buffer);
  }
  return w;
}

function ints(name: 'table' | 'entries' | 'entryHash' | 'indexes', n: number): Int32Array {
  if (scratch[name].length < n) scratch[name] = new Int32Array(Math.max(n, 2 * scratch[name].length));
  return scratch[name];
}

function hashBytes(d: Buffer, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ d[i]!, 0x01000193);
  return h >>> 0;
}

function sameBytes(d: Buffer, a: number, aEnd: number, b: number, bEnd: number): boolean {
  if (aEnd - a !== bEnd - b) return false;
  for (; a < aEnd; a++, b++) if (d[a] !== d[b]) return false;
  return true;
}

interface Dictionary {
  /** Entry of each value. */
  indexes: Int32Array;
  /** Value index of each entry (its first occurrence). */
  entries: Int32Array;
  count: number;
}

/** A value's PLAIN size (a byte array's 4-byte length included). */
function plainSize(leaf: Leaf, i: number): number {
  return leaf.starts ? 4 + leaf.valueEnd(i) - leaf.valueStart(i) : leaf.width;
}

/** The chunk's dictionary, when it at least halves the values (hyparquet-writer's rule and sampling). */
function dictionaryOf(leaf: Leaf): Dictionary | undefined {
  const n = leaf.values;
  if (leaf.type === 'BOOLEAN' || n === 0) return undefined;
  const d = leaf.data;
  const plain = leaf.starts ? leaf.dataLength : n * leaf.width;
  // A sample spread over the chunk rejects columns that would very likely lose.
  const sampleSize = Math.min(n, 1000);
  const seen = new Set<number>();
  let sampleDistinct = 0;
  let sampleTotal = 0;
  for (let s = 0; s < sampleSize; s++) {
    const i = sampleSize === 1 ? 0 : Math.floor((s * (n - 1)) / (sampleSize - 1));
    const size = plainSize(leaf, i);
    const h = hashBytes(d, leaf.valueStart(i), leaf.valueEnd(i)) ^ size;
    if (!seen.has(h)) {
      seen.add(h);
      sampleDistinct += size;
    }
    sampleTotal += size;
  }
  if (sampleTotal === 0 || sampleDistinct / sampleTotal > 0.9) return undefined;

  let slots = 16;
  while (slots < 2 * n) slots *= 2;
  const mask = slots - 1;
  const table = ints('table', slots).fill(-1, 0, slots);
  const entries = ints('entries', n);
  const entryHash = ints('entryHash', n);
  const indexes = ints('indexes', n);
  let count = 0;
  let dictBytes = 0;
  for (let i = 0; i < n; i++) {
    const start = leaf.valueStart(i);
    const end = leaf.valueEnd(i);
    const h = hashBytes(d, start, end) | 0;
    let at = h & mask;
    let entry = -1;
    for (let e = table[at]!; e !== -1; at = (at + 1) & mask, e = table[at]!) {
      if (entryHash[e] === h) {
        const j = entries[e]!;
        if (sameBytes(d, start, end, leaf.valueStart(j), leaf.valueEnd(j))) {
          entry = e;
          break;
        }
      }
    }
    if (entry === -1) {
      entry = count++;
      table[at] = entry;
      entries[entry] = i;
      entryHash[entry] = h;
      dictBytes += plainSize(leaf, i);
      // It can no longer halve the values.
      if (2 * dictBytes > plain) return undefined;
    }
    indexes[i] = entry;
  }
  const indexBytes = Math.ceil((n * Math.ceil(Math.log2(count))) / 8);
  if (2 * (dictBytes + indexBytes) > plain) return undefined;
  return { indexes, entries, count };
}

interface Statistics {
  min_value?: bigint | number | boolean | Uint8Array;
  max_value?: bigint | number | boolean | Uint8Array;
  null_count: bigint;
  nan_count?: bigint;
}

function statisticsOf(leaf: Leaf): Statistics {
  const n = leaf.values;
  const d = leaf.data;
  const stats: Statistics = { null_count: BigInt(leaf.slots - n) };
  if (n === 0) {
    if (leaf.type === 'DOUBLE') stats.nan_count = 0n;
    return stats;
  }
  switch (leaf.type) {
    case 'INT64': {
      let min = 0;
      let max = 0;
      const less = (a: number, b: number): boolean => {
        const ha = d.readInt32LE(a * 8 + 4);
        const hb = d.readInt32LE(b * 8 + 4);
        return ha < hb || (ha === hb && d.readUInt32LE(a * 8) < d.readUInt32LE(b * 8));
      };
      for (let i = 1; i < n; i++) {
        if (less(i, min)) min = i;
        if (less(max, i)) max = i;
      }
      stats.min_value = d.readBigInt64LE(min * 8);
      stats.max_value = d.readBigInt64LE(max * 8);
      return stats;
    }
    case 'DOUBLE': {
      let nan = 0;
      let min: number | undefined;
      let max: number | undefined;
      for (let i = 0; i < n; i++) {
        const v = d.readDoubleLE(i * 8);
        if (Number.isNaN(v)) nan++;
        else {
          if (min === undefined || v < min) min = v;
          if (max === undefined || v > max) max = v;
        }
      }
      if (min !== undefined) stats.min_value = min === 0 ? -0 : min;
      if (max !== undefined) stats.max_value = max === 0 ? 0 : max;
      stats.nan_count = BigInt(nan);
      return stats;
    }
    case 'BOOLEAN': {
      let any = 0;
      let all = 1;
      for (let i = 0; i < n; i++) {
        any |= d[i]!;
        all &= d[i]!;
      }
      stats.min_value = all === 1;
      stats.max_value = any === 1;
      return stats;
    }
    default: {
      let min = 0;
      let max = 0;
      // Unsigned byte order, compared in place (Buffer#compare with ranges makes views).
      const cmp = (a: number, b: number): number => {
        let i = leaf.valueStart(a);
        const iEnd = leaf.valueEnd(a);
        let j = leaf.valueStart(b);
        const jEnd = leaf.valueEnd(b);
        for (; i < iEnd && j < jEnd; i++, j++) if (d[i] !== d[j]) return d[i]! - d[j]!;
        return iEnd - i - (jEnd - j);
      };
      for (let i = 1; i < n; i++) {
        if (cmp(i, min) < 0) min = i;
        if (cmp(i, max) > 0) max = i;
      }
      // Copies: the statistics stay until the footer, the buffer does not.
      stats.min_value = Uint8Array.prototype.slice.call(d, leaf.valueStart(min), leaf.valueEnd(min));
      stats.max_value = Uint8Array.prototype.slice.call(d, leaf.valueStart(max), leaf.valueEnd(max));
      return stats;
    }
  }
}

/** Where the PLAIN bytes of values [v0, v1) lie in the leaf's data (not for booleans). */
function plainRange(leaf: Leaf, v0: number, v1: number): Uint8Array {
  if (!leaf.starts) return leaf.data.subarray(v0 * leaf.width, v1 * leaf.width);
  const start = v0 < leaf.values ? leaf.starts[v0]! : leaf.dataLength;
  const end = v1 < leaf.values ? leaf.starts[v1]! : leaf.dataLength;
  return leaf.data.subarray(start, end);
}

function packBooleans(leaf: Leaf, v0: number, v1: number, into: ByteWriter): void {
  const d = leaf.data;
  let byte = 0;
  let bits = 0;
  for (let i = v0; i < v1; i++) {
    if (d[i]) byte |= 1 << bits;
    if (++bits === 8) {
      into.appendUint8(byte);
      byte = 0;
      bits = 0;
    }
  }
  if (bits > 0) into.appendUint8(byte);
}

/**
 * Writes one leaf's column chunk to `out` (the file's writer, at its current offset) and
 * returns its ColumnChunk for the footer.
 */
export function writeChunk(out: ChunkOutput, leaf: Leaf, path: string[], codec: ParquetCodec): ColumnChunk {
  const compress = COMPRESS[codec];
  const type = PHYSICAL[leaf.type];
  const offsetStart = out.offset;
  let uncompressed = 0;
  const encodings: Encoding[] = [];
  const statistics = statisticsOf(leaf);
  const dictionary = dictionaryOf(leaf);

  let dictionaryPageOffset: bigint | undefined;
  if (dictionary) {
    dictionaryPageOffset = BigInt(out.offset);
    const page = reset(scratch.values);
    for (let e = 0; e < dictionary.count; e++) {
      const i = dictionary.entries[e]!;
      page.appendBytes(leaf.starts ? leaf.data.subarray(leaf.starts[i]!, leaf.valueEnd(i)) : leaf.data.subarray(i * leaf.width, (i + 1) * leaf.width));
    }
    const bytes = page.getBytes();
    const compressed = compress(bytes);
    const headerStart = out.offset;
    writePageHeader(out, {
      type: 'DICTIONARY_PAGE',
      uncompressed_page_size: bytes.byteLength,
      compressed_page_size: compressed.byteLength,
      dictionary_page_header: { num_values: dictionary.count, encoding: 'PLAIN' },
    } as PageHeader);
    uncompressed += out.offset - headerStart + bytes.byteLength;
    if (codec === 'UNCOMPRESSED') out.appendBytes(compressed);
    else out.appendOwned(compressed);
    encodings.push('PLAIN');
  }
  const encoding: Encoding = dictionary ? 'RLE_DICTIONARY' : 'PLAIN';
  encodings.push(encoding);

  const dataPageOffset = BigInt(out.offset);
  const defWidth = bitWidth(leaf.maxDef);
  const reps = leaf.reps;
  let pages = 0;
  let s0 = 0;
  let v0 = 0;
  while (s0 < leaf.slots) {
    // The page's slots: up to PAGE_BYTES of values, ending before a row's first slot.
    let s1 = s0;
    let v1 = v0;
    if ((leaf.starts ? leaf.dataLength : leaf.values * leaf.width) - (leaf.starts ? (v0 < leaf.values ? leaf.starts[v0]! : leaf.dataLength) : v0 * leaf.width) <= PAGE_BYTES) {
      s1 = leaf.slots;
      v1 = leaf.values;
    } else {
      let bytes = 0;
      while (s1 < leaf.slots) {
        if (s1 > s0 && bytes >= PAGE_BYTES && (!reps || reps[s1] === 0)) break;
        if (leaf.defs[s1] === leaf.maxDef) bytes += plainSize(leaf, v1++);
        s1++;
      }
    }
    let rows = 0;
    let nulls = 0;
    for (let s = s0; s < s1; s++) {
      if (leaf.defs[s]! < leaf.maxDef) nulls++;
      if (!reps || reps[s] === 0) rows++;
    }
    const levels = reset(scratch.levels);
    const repLength = reps ? writeRleBitPackedHybrid(levels, reps.subarray(s0, s1), 1) : 0;
    const defLength = writeRleBitPackedHybrid(levels, leaf.defs.subarray(s0, s1), defWidth);
    let values: Uint8Array;
    if (dictionary) {
      const page = reset(scratch.values);
      const ix = dictionary.indexes.subarray(v0, v1);
      let max = 0;
      for (let i = 0; i < ix.length; i++) if (ix[i]! > max) max = ix[i]!;
      const width = Math.max(1, bitWidth(max));
      page.appendUint8(width);
      writeRleBitPackedHybrid(page, ix, width);
      values = page.getBytes();
    } else if (leaf.type === 'BOOLEAN') {
      const page = reset(scratch.values);
      packBooleans(leaf, v0, v1, page);
      values = page.getBytes();
    } else values = plainRange(leaf, v0, v1);
    const compressed = compress(values);
    const levelBytes = levels.getBytes();
    const headerStart = out.offset;
    writePageHeader(out, {
      type: 'DATA_PAGE_V2',
      uncompressed_page_size: levelBytes.byteLength + values.byteLength,
      compressed_page_size: levelBytes.byteLength + compressed.byteLength,
      data_page_header_v2: {
        num_values: s1 - s0,
        num_nulls: nulls,
        num_rows: rows,
        encoding,
        definition_levels_byte_length: defLength,
        repetition_levels_byte_length: repLength,
        is_compressed: true,
      },
    } as PageHeader);
    uncompressed += out.offset - headerStart + levelBytes.byteLength + values.byteLength;
    out.appendBytes(levelBytes);
    if (codec === 'UNCOMPRESSED') out.appendBytes(compressed);
    else out.appendOwned(compressed);
    pages++;
    s0 = s1;
    v0 = v1;
  }

  return {
    meta_data: {
      type,
      encodings,
      path_in_schema: path,
      codec: codec as CompressionCodec,
      num_values: BigInt(leaf.slots),
      total_compressed_size: BigInt(out.offset - offsetStart),
      total_uncompressed_size: BigInt(uncompressed),
      data_page_offset: dataPageOffset,
      ...(dictionaryPageOffset !== undefined ? { dictionary_page_offset: dictionaryPageOffset } : {}),
      statistics: statistics as never,
      encoding_stats: [
        ...(dictionary ? [{ page_type: 'DICTIONARY_PAGE' as const, encoding: 'PLAIN' as const, count: 1 }] : []),
        { page_type: 'DATA_PAGE_V2' as const, encoding, count: pages },
      ],
    },
    file_offset: BigInt(offsetStart),
  };
}
