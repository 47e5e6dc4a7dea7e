/**
 * Snappy compression of a Parquet page into one output buffer, allocated once at the
 * format's bound (32 + n + n/6 bytes). The algorithm and its output are those of
 * hyparquet-writer's snappy.js (MIT, from snappyjs by Zhipeng Jia); that one writes
 * through a growing ByteWriter and a typed-array view per literal, which made it the
 * biggest allocator of an export. Here literals are copied byte by byte (short) or with
 * Buffer.copy, and nothing else is allocated but the output and, once per size, the
 * hash table.
 */
const MAX_HASH_TABLE_BITS = 14;
const MAX_OFFSET = 0xffff;
const INPUT_MARGIN = 15;
const hashTables: Array<Uint32Array | undefined> = new Array(MAX_HASH_TABLE_BITS + 1);

function load32(a: Uint8Array, p: number): number {
  return a[p]! + (a[p + 1]! << 8) + (a[p + 2]! << 16) + (a[p + 3]! << 24);
}

function equals32(a: Uint8Array, p: number, q: number): boolean {
  return a[p] === a[q] && a[p + 1] === a[q + 1] && a[p + 2] === a[q + 2] && a[p + 3] === a[q + 3];
}

class Output {
  o: Buffer = Buffer.alloc(0);
  op = 0;

  varint(v: number): void {
    while (v >= 0x80) {
      this.o[this.op++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.o[this.op++] = v;
  }

  literal(input: Uint8Array, ip: number, len: number): void {
    const o = this.o;
    if (len <= 60) o[this.op++] = (len - 1) << 2;
    else {
      const value = len - 1;
      const bytes = value < 0x100 ? 1 : value < 0x10000 ? 2 : value < 0x1000000 ? 3 : 4;
      o[this.op++] = (59 + bytes) << 2;
      for (let i = 0; i < bytes; i++) o[this.op++] = (value >>> (i * 8)) & 0xff;
    }
    if (len < 32) {
      for (let i = 0; i < len; i++) o[this.op + i] = input[ip + i]!;
    } else if (Buffer.isBuffer(input)) input.copy(o, this.op, ip, ip + len);
    else o.set(input.subarray(ip, ip + len), this.op);
    this.op += len;
  }

  copyLessThan64(offset: number, len: number): void {
    const o = this.o;
    if (len < 12 && offset < 2048) {
      o[this.op++] = 1 + ((len - 4) << 2) + ((offset >>> 8) << 5);
      o[this.op++] = offset & 0xff;
    } else {
      o[this.op++] = 2 + ((len - 1) << 2);
      o[this.op++] = offset & 0xff;
      o[this.op++] = offset >>> 8;
    }
  }

  copy(offset: number, len: number): void {
    while (len >= 68) {
      this.copyLessThan64(offset, 64);
      len -= 64;
    }
    if (len > 64) {
      this.copyLessThan64(offset, 60);
      len -= 60;
    }
    this.copyLessThan64(offset, len);
  }
}

const out = new Output();

/** The Snappy (raw, not framed) compression of `input`: a view of a buffer of its own. */
export function snappyCompress(input: Uint8Array): Buffer {
  const inputSize = input.length;
  out.o = Buffer.allocUnsafeSlow(32 + inputSize + Math.floor(inputSize / 6));
  out.op = 0;
  out.varint(inputSize);

  let hashTableBits = 1;
  while (1 << hashTableBits <= inputSize && hashTableBits <= MAX_HASH_TABLE_BITS) hashTableBits++;
  hashTableBits--;
  const shift = 32 - hashTableBits;
  const table = (hashTables[hashTableBits] ??= new Uint32Array(1 << hashTableBits));
  table.fill(0);
  const hash = (key: number): number => Math.imul(key, 0x1e35a7bd) >>> shift;

  const ipEnd = inputSize;
  let ip = 0;
  let nextEmit = 0;
  if (inputSize >= INPUT_MARGIN) {
    const ipLimit = ipEnd - INPUT_MARGIN;
    ip++;
    let nextHash = hash(load32(input, ip));
    let more = true;
    while (more) {
      let skip = 32;
      let nextIp = ip;
      let candidate = 0;
      do {
        ip = nextIp;
        const h = nextHash;
        const step = skip >>> 5;
        skip++;
        nextIp = ip + step;
        if (ip > ipLimit) {
          more = false;
          break;
        }
        nextHash = hash(load32(input, nextIp));
        candidate = table[h]!;
        table[h] = ip;
      } while (ip - candidate > MAX_OFFSET || !equals32(input, ip, candidate));
      if (!more) break;

      out.literal(input, nextEmit, ip - nextEmit);
      do {
        const base = ip;
        let matched = 4;
        while (ip + matched < ipEnd && input[ip + matched] === input[candidate + matched]) matched++;
        ip += matched;
        out.copy(base - candidate, matched);
        nextEmit = ip;
        if (ip >= ipLimit) {
          more = false;
          break;
        }
        table[hash(load32(input, ip - 1))] = ip - 1;
        const cur = hash(load32(input, ip));
        candidate = table[cur]!;
        table[cur] = ip;
      } while (ip - candidate <= MAX_OFFSET && equals32(input, ip, candidate));
      if (!more) break;
      ip++;
      nextHash = hash(load32(input, ip));
    }
  }
  if (nextEmit < ipEnd) out.literal(input, nextEmit, ipEnd - nextEmit);
  const o = out.o;
  out.o = Buffer.alloc(0);
  return o.subarray(0, out.op);
}
