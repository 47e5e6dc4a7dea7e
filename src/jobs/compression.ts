/**
 * The compressions of data files: one small codec per kind, with what the data files
 * need of it (file extension, levels, streams, worst-case size and flush).
 *
 *   gzip  `.avro.gz`   node:zlib gzip, levels 0-9 (default 6); `gzip -t` checks a file
 *   zstd  `.avro.zst`  node:zlib zstd, levels 1-22 (default 1: see ZSTD_LEVELS), one frame
 *                      with its XXH64 content checksum, so `zstd -t` checks a file
 *   none  `.avro`      stored as it is
 *
 * A whole file is one compressed stream: the Avro blocks go in without a flush, and the
 * writer flushes only when it needs an exact size (the file-size bound, see OutputFile
 * in data-files.ts). Each codec gives an upper bound of what the bytes written since the
 * last flush can add to the stored size, flush and end included.
 *
 * zstd streams are experimental in Node 22 and 24 (since 22.15 and 23.8): their
 * presence is detected (zlibZstd), and a runtime without them gets a ZstdUnavailableError
 * (ZSTD_UNAVAILABLE) instead of a TypeError: as a usage error when asked to write zstd,
 * as a failure naming the backup or file when asked to read it.
 */
import type { Transform } from 'node:stream';
// A namespace import: on a Node without zstd the named exports are missing, which would
// fail the whole module at link time; on the namespace they are just undefined.
import * as zlib from 'node:zlib';
import { AerobakError } from '../errors.js';

export type Compression = 'gzip' | 'zstd' | 'none';

/** Every compression a data file may have, in the order help and errors list them. */
export const COMPRESSIONS: readonly Compression[] = ['gzip', 'zstd', 'none'];

/**
 * What a backup uses unless told otherwise, chosen from `npm run bench:compression`
 * (docs/performance.md, "Compression"): zstd stores smaller files than gzip with far less
 * CPU and a faster backup, and is what Aerospike's Go backup tools default to; its level
 * (ZSTD_LEVELS) was re-tuned against a real server. Where zstd streams are missing (Node.js
 * before 22.15, which aerobak refuses anyway) gzip is the fallback.
 */
export const DEFAULT_COMPRESSION: Compression = typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function' ? 'zstd' : 'gzip';

/** The compression levels a codec takes, and the one it uses when none is given. */
export interface LevelRange {
  min: number;
  max: number;
  default: number;
}

/** A compressing stream of a data file, with what the file-size bound needs of it. */
export interface Compressor {
  readonly stream: Transform;
  /**
   * Makes the stream output everything written to it so far (the output then decompresses
   * to all of it), without ending it; resolves once that output is on the stream's
   * readable side.
   */
  flush(): Promise<void>;
}

/** How data files of one compression are named, written and read. */
export interface Codec {
  readonly name: Compression;
  /** The end of the data files' names: `.avro.gz`, `.avro.zst`, `.avro`. */
  readonly extension: string;
  /** Undefined for none. */
  readonly levels: LevelRange | undefined;
  /** The streams; undefined for none (the file is stored as it is). */
  readonly streams: CodecStreams | undefined;
}

export interface CodecStreams {
  /** A compressor at `level` (in `levels`; the default when undefined). Throws ZstdUnavailableError where the runtime lacks it. */
  compressor(level: number | undefined): Compressor;
  /** A decompressor of one whole file. Throws ZstdUnavailableError where the runtime lacks it. */
  decompressor(): Transform;
  /**
   * An upper bound of the bytes `raw` input bytes add to the output, a flush after them
   * included: the codec's worst case (incompressible input), with room to spare.
   */
  bound(raw: number): number;
  /** An upper bound of the bytes the stream adds when it ends (after a flush, or on top of `bound`). */
  readonly endBytes: number;
  /** True for an error of the decompressor about its input (damaged or cut stream), as opposed to any other failure. */
  isDamage(error: unknown): boolean;
}

/**
 * Output chunks of every compressor and decompressor. zlib hands back one buffer at a
 * time and waits for the main thread before it goes on, so with zlib's default (16 KiB)
 * a 256 KiB block takes ~8 round trips through a main thread busy encoding, and the
 * zlib threads idle; the decoder buffers a whole block (256 KiB) anyway.
 */
const CHUNK_BYTES = 256 * 1024;

const zlibCode = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

function flushed(stream: zlib.Gzip | zlib.ZstdCompress, kind: number): Promise<void> {
  // The callback goes to the stream's write(), which passes it the stream's error.
  return new Promise<void>((resolve, reject) => stream.flush(kind, ((error?: Error | null) => (error ? reject(error) : resolve())) as () => void));
}

const GZIP_LEVELS: LevelRange = { min: 0, max: 9, default: 6 };

const GZIP: Codec = {
  name: 'gzip',
  extension: '.avro.gz',
  levels: GZIP_LEVELS,
  streams: {
    compressor(level) {
      const stream = zlib.createGzip({ chunkSize: CHUNK_BYTES, level: level ?? GZIP_LEVELS.default });
      return { stream, flush: () => flushed(stream, zlib.constants.Z_SYNC_FLUSH) };
    },
    decompressor: () => zlib.createGunzip({ chunkSize: CHUNK_BYTES }),
    // zlib's deflateBound (about n + n/4096 + 13: stored blocks, for incompressible input),
    // the empty stored block a sync flush adds (5 bytes) and the 10-byte gzip header, with
    // room to spare.
    bound: (raw) => raw + Math.ceil(raw / 1024) + 64,
    // The final deflate block, CRC-32 and length.
    endBytes: 32,
    isDamage: (error) => zlibCode(error)?.startsWith('Z_') === true,
  },
};

/** node:zlib's zstd streams, when this runtime has them. */
function zlibZstd(): { createZstdCompress: typeof zlib.createZstdCompress; createZstdDecompress: typeof zlib.createZstdDecompress } | undefined {
  const z = zlib as Partial<typeof zlib>;
  return typeof z.createZstdCompress === 'function' && typeof z.createZstdDecompress === 'function'
    ? { createZstdCompress: z.createZstdCompress, createZstdDecompress: z.createZstdDecompress }
    : undefined;
}

/** True when this runtime can write and read zstd data files. */
export function zstdAvailable(): boolean {
  return zlibZstd() !== undefined;
}

/**
 * zstd levels; the default is 1. Against a real Aerospike 8.1 server on the 2-core dev box
 * (docs/performance.md, "Anchors"), 2M records: level 3 took 9.0-9.3 s and 12.7-13.3 s of
 * CPU, level 2 6.6-7.0 s, level 1 5.0-6.1 s and 6.4-7.4 s of CPU (none 4.5-4.8 s), for files
 * 4.9 % larger than level 3's (386 MB against 368; Aerospike's asbackup -z zstd, level 3 of
 * its text format: 403 MB). On a box where the tool shares the cores with the server, the
 * backup window is what the level costs; `--compress-level 3` (or more) buys the bytes back.
 */
const ZSTD_LEVELS: LevelRange = { min: 1, max: 22, default: 1 };

const ZSTD: Codec = {
  name: 'zstd',
  extension: '.avro.zst',
  levels: ZSTD_LEVELS,
  streams: {
    compressor(level) {
      const zstd = zlibZstd();
      if (!zstd) throw zstdUnavailable('usage', 'writing a zstd data file');
      const { ZSTD_c_compressionLevel, ZSTD_c_checksumFlag, ZSTD_e_flush } = zlib.constants;
      const stream = zstd.createZstdCompress({
        chunkSize: CHUNK_BYTES,
        // The frame's content checksum (XXH64): `zstd -t` and every decoder check it.
        params: { [ZSTD_c_compressionLevel]: level ?? ZSTD_LEVELS.default, [ZSTD_c_checksumFlag]: 1 },
      });
      return { stream, flush: () => flushed(stream, ZSTD_e_flush) };
    },
    decompressor() {
      const zstd = zlibZstd();
      if (!zstd) throw zstdUnavailable('failed', 'reading a zstd data file');
      // A window of at most 128 MiB (what level 22 needs), stated rather than left to libzstd's default: a
      // frame that asks for more fails as damage instead of making the reader hold a bigger window.
      return zstd.createZstdDecompress({ chunkSize: CHUNK_BYTES, params: { [zlib.constants.ZSTD_d_windowLogMax]: 27 } });
    },
    // ZSTD_compressBound (n + n/256, + up to 64 below 128 KiB), the frame header (at most
    // 18 bytes) and the block a flush ends (3-byte header), with room to spare.
    bound: (raw) => raw + Math.ceil(raw / 256) + 128,
    // The last block's header (3 bytes) and the checksum (4).
    endBytes: 16,
    // Damage shows as ZSTD_error_* (checksum_wrong, corruption_detected...) or, for a cut
    // frame, zlib's Z_BUF_ERROR "unexpected end of file".
    isDamage: (error) => /^(ZSTD_error_|Z_)/.test(zlibCode(error) ?? ''),
  },
};

const NONE: Codec = { name: 'none', extension: '.avro', levels: undefined, streams: undefined };

const CODECS: Record<Compression, Codec> = { gzip: GZIP, zstd: ZSTD, none: NONE };

/** The codec of a compression; throws RangeError for anything else (a value that skipped validation). */
export function codecOf(compression: Compression): Codec {
  const codec = (CODECS as Partial<Record<string, Codec>>)[compression];
  if (!codec) throw new RangeError(`unknown compression "${String(compression)}" (known: ${COMPRESSIONS.join(', ')})`);
  return codec;
}

/** The compression whose data files end in `extension` (`.avro.gz`...), or undefined. */
export function compressionOfExtension(extension: string): Compression | undefined {
  return COMPRESSIONS.find((c) => CODECS[c].extension === extension);
}

/** The runtime lacks a compression: zstd on a Node.js before 22.15 (or one built without it). */
export class ZstdUnavailableError extends AerobakError {
  constructor(kind: 'usage' | 'failed', message: string) {
    super(kind, 'ZSTD_UNAVAILABLE', message);
  }

  declare readonly code: 'ZSTD_UNAVAILABLE';
}

/**
 * The error for `what` needing zstd on a runtime without it, in one line naming the
 * runtime: `usage` when the person asked for zstd (writing), `failed` when existing
 * data needs it (reading a backup, resuming one).
 */
export function zstdUnavailable(kind: 'usage' | 'failed', what: string): ZstdUnavailableError {
  const fix = kind === 'usage' ? 'use --compress gzip, or run aerobak on Node.js 22.15 or newer' : 'run aerobak on Node.js 22.15 or newer';
  return new ZstdUnavailableError(kind, `${what} needs zstd, which Node.js ${process.version} does not have (node:zlib has zstd streams from Node.js 22.15 and 23.8): ${fix}`);
}

/**
 * Throws ZstdUnavailableError when `compression` cannot be used on this runtime; `what`
 * names what needs it (`--compress zstd`, `the backup at s3://b/p`), `kind` is as for
 * zstdUnavailable.
 */
export function requireCompression(compression: Compression, kind: 'usage' | 'failed', what: string): void {
  if (compression === 'zstd' && !zstdAvailable()) throw zstdUnavailable(kind, what);
}

/** Why `level` is not a level of `compression` (none takes none), or undefined when it is one. */
export function levelProblem(compression: Compression, level: number): string | undefined {
  const levels = codecOf(compression).levels;
  if (!levels) return `compression "${compression}" takes no level`;
  if (!Number.isInteger(level) || level < levels.min || level > levels.max) return `${level} is not a ${compression} level (${levels.min}-${levels.max})`;
  return undefined;
}

/** Throws RangeError unless `level` is a level of `compression`. */
export function checkLevel(compression: Compression, level: number): void {
  const problem = levelProblem(compression, level);
  if (problem !== undefined) throw new RangeError(`invalid compression level: ${problem}`);
}

/** A decompressor for a data file of `compression`, or undefined for none. */
export function decompressor(compression: Compression): Transform | undefined {
  return codecOf(compression).streams?.decompressor();
}
