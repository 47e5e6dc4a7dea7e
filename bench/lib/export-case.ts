/**
 * The aerobak export job (runExport, what `aerobak export` runs) as a benchmark case:
 * namespace.set, from the cluster (one scan per lane) or from a backup made earlier in
 * the same round (p.input), to typed table files (Parquet or Avro, the format's default
 * codec) in a local directory.
 *
 * `seconds` is the data phase, from the moment the job knows how many records to expect
 * (after connecting, checking that the destination is empty and counting the objects, as
 * in the backup cases; the job reports it through its progress listener) to the end of
 * _SUCCESS; extra.totalSeconds is the whole job, setup included.
 *
 * Export buffers cells in JavaScript objects (rows of a row group), not bytes, so RSS says
 * little about where memory goes: extra.memory has the peaks of the V8 heap, of external
 * memory and of ArrayBuffers, sampled every 250 ms with process.memoryUsage().
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExportFormatName } from '../../src/export/format.js';
import { runExport, type ExportOptions } from '../../src/jobs/export.js';
import { MANIFEST_FILE, type Manifest } from '../../src/jobs/manifest.js';
import { Meter, clusterOptions, type CaseParams, type CaseResult } from './case-runtime.js';

/** Peaks of process.memoryUsage() while the job runs, in MB. */
class MemoryPeaks {
  heapUsedMB = 0;
  heapTotalMB = 0;
  externalMB = 0;
  arrayBuffersMB = 0;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.sample();
    this.timer = setInterval(() => this.sample(), 250);
    this.timer.unref();
  }

  private sample(): void {
    const m = process.memoryUsage();
    this.heapUsedMB = Math.max(this.heapUsedMB, m.heapUsed / 1048576);
    this.heapTotalMB = Math.max(this.heapTotalMB, m.heapTotal / 1048576);
    this.externalMB = Math.max(this.externalMB, m.external / 1048576);
    this.arrayBuffersMB = Math.max(this.arrayBuffersMB, m.arrayBuffers / 1048576);
  }

  stop(): Record<string, number> {
    clearInterval(this.timer);
    this.sample();
    const r = (n: number) => Math.round(n);
    return { heapUsedMB: r(this.heapUsedMB), heapTotalMB: r(this.heapTotalMB), externalMB: r(this.externalMB), arrayBuffersMB: r(this.arrayBuffersMB) };
  }
}

export async function exportCase(p: CaseParams, format: ExportFormatName, from: 'cluster' | 'backup'): Promise<CaseResult> {
  let expected: number | undefined;
  if (from === 'backup') {
    if (!p.input) throw new Error('export-from-backup: no input backup');
    expected = (JSON.parse(await readFile(join(p.input, MANIFEST_FILE), 'utf8')) as Manifest).records;
  }
  const source: ExportOptions['source'] = from === 'backup' ? { from: p.input! } : { cluster: clusterOptions(p), namespace: p.namespace };
  // The last progress view without an estimate is the one the job emits when it has its
  // estimate, right before the first record is read: the end of the setup.
  let setupEndAt: number | undefined;
  const meter = new Meter();
  const memory = new MemoryPeaks();
  const started = performance.now();
  const summary = await runExport(
    { source, to: p.dir, format, sets: [p.set], parallel: p.parallel },
    {
      onProgress: (view) => {
        if (view.totalRecords === undefined) setupEndAt = performance.now();
      },
    },
  );
  const result = meter.stop({
    records: summary.records,
    bytes: summary.bytes,
    bytesWhat: `stored (${format} ${summary.codec}) bytes written`,
    extra: {
      source: from,
      format,
      codec: summary.codec,
      files: summary.files,
      storedBytes: summary.bytes,
      memory: memory.stop(),
    },
  });
  if (expected !== undefined && summary.records !== expected) throw new Error(`export-from-backup: exported ${summary.records} of the backup's ${expected} records`);
  const setup = setupEndAt === undefined ? 0 : (setupEndAt - started) / 1000;
  result.extra = { ...result.extra, totalSeconds: Math.round(result.seconds * 1000) / 1000, setupSeconds: Math.round(setup * 1000) / 1000 };
  result.seconds -= setup;
  return result;
}
