/**
 * Case 5, the gzip ceiling: the uncompressed Avro data files of a `--compress none`
 * backup (case 3) piped through zlib.createGzip at the default level, in this process,
 * output discarded. Every file at once (as many streams as the backup had groups, so
 * zlib runs on as many threadpool threads as in the backup), read from the page cache.
 * Plain streaming gzip: no sync flush per Avro block as the backup's data files do.
 * `bytes` are the Avro input bytes; records/s is the equivalent (records in the files).
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { MANIFEST_FILE, type Manifest } from '../../src/jobs/manifest.js';
import { Meter, runCase } from '../lib/case-runtime.js';

runCase(async (p) => {
  if (!p.input) throw new Error('gzip-alone: no input backup');
  const manifest = JSON.parse(await readFile(join(p.input, MANIFEST_FILE), 'utf8')) as Manifest;
  if (manifest.compression !== 'none') throw new Error(`gzip-alone: ${p.input} is not an uncompressed backup`);
  const files = manifest.files.map((f) => join(p.input!, f.name));
  let inputBytes = 0;
  for (const f of files) inputBytes += (await stat(f)).size;
  let outputBytes = 0;
  const meter = new Meter();
  await Promise.all(
    files.map((f) =>
      pipeline(
        createReadStream(f, { highWaterMark: 256 * 1024 }),
        createGzip(),
        new Writable({
          write(chunk: Buffer, _encoding, callback) {
            outputBytes += chunk.length;
            callback();
          },
        }),
      ),
    ),
  );
  return meter.stop({
    records: manifest.records,
    bytes: inputBytes,
    bytesWhat: 'Avro bytes gzipped',
    extra: { files: files.length, gzipBytes: outputBytes, ratio: Math.round((outputBytes / inputBytes) * 1000) / 1000 },
  });
});
