/**
 * Case 2: the official client's scan (aerospike npm 6.x), `client.scan(ns, set).foreach()`,
 * records counted and discarded. Its RecordStream has no backpressure (records come as
 * fast as the server sends them); with a consumer that does nothing, that costs nothing.
 * `bytes` is 0: the client does not expose wire sizes.
 */
import Aerospike from 'aerospike';
import { Meter, runCase } from '../lib/case-runtime.js';

runCase(async (p) => {
  const client = await Aerospike.connect({ hosts: p.hosts, log: { level: Aerospike.log.OFF } });
  try {
    const scan = client.scan(p.namespace, p.set);
    const meter = new Meter();
    let records = 0;
    await new Promise<void>((resolve, reject) => {
      const stream = scan.foreach({ socketTimeout: 30_000, totalTimeout: 0 });
      stream.on('data', () => {
        records++;
      });
      stream.on('error', reject);
      stream.on('end', () => resolve());
    });
    return meter.stop({ records, bytes: 0, bytesWhat: 'n/a' });
  } finally {
    await client.close();
  }
});
