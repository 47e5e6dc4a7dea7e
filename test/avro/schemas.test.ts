import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { METADATA_SCHEMA_V1, RECORD_SCHEMA_V1 } from '../../src/avro/schemas.js';
import { avroJs } from './avro-js.js';

const published = (name: string): unknown => JSON.parse(readFileSync(new URL(`../../schemas/${name}`, import.meta.url), 'utf8'));

describe('published schemas', () => {
  it('schemas/*.avsc are exactly the schemas the code writes', () => {
    expect(published('record.v1.avsc')).toEqual(RECORD_SCHEMA_V1);
    expect(published('metadata.v1.avsc')).toEqual(METADATA_SCHEMA_V1);
  });

  it('parse with Apache avro-js', () => {
    expect(avroJs.parse(published('record.v1.avsc')).getName()).toBe('aerobak.v1.Record');
    expect(avroJs.parse(published('metadata.v1.avsc')).getName()).toBe('aerobak.v1.Metadata');
  });
});
