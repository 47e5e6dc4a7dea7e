/**
 * The Avro schemas of aerobak's backup files, version 1.
 *
 * These constants are the schemas the code reads and writes; schemas/*.avsc are the
 * same schemas published for other tools (test/avro/schemas.test.ts fails if the two
 * differ). A published version is frozen: a change that is not a compatible Avro
 * evolution (adding a field with a default, appending a union branch) needs a new
 * version (aerobak.v2, record.v2.avsc) and a reader for the old one. See docs/format.md.
 */

/** The version of RECORD_SCHEMA_V1, as stored in a manifest's `schemaVersion`. */
export const RECORD_SCHEMA_VERSION = 1;

/**
 * One Aerospike record (schemas/record.v1.avsc). Bin value branches, in union order:
 * long INTEGER, double FLOAT, string STRING, boolean BOOL, bytes BLOB, List, Map,
 * GeoJson, Hll, and Particle for everything else (and for any value the typed branch
 * cannot hold bit for bit). User keys use the same rule with long/string/bytes.
 */
export const RECORD_SCHEMA_V1 = {
  type: 'record',
  name: 'Record',
  namespace: 'aerobak.v1',
  doc: 'One Aerospike record as the server stores it. Every value round-trips byte for byte: a value that a typed branch cannot hold exactly is kept as a Particle (particle type + raw server bytes).',
  fields: [
    { name: 'namespace', type: 'string' },
    { name: 'set', type: 'string', doc: "The set name; '' for a record in no set." },
    {
      name: 'digest',
      type: { type: 'fixed', name: 'Digest', size: 20, doc: "RIPEMD-160 of (set, key particle type, key bytes): the record's identity on the server." },
    },
    {
      name: 'userKey',
      doc: 'The stored user key, if the record was written with its key sent: long = INTEGER (1), string = STRING (3), bytes = BLOB (4), Particle = any other type or bytes.',
      type: [
        'null',
        'long',
        'string',
        'bytes',
        {
          type: 'record',
          name: 'Particle',
          doc: 'A value kept as the server holds it: its particle type id and raw bytes. Used for particle types with no typed branch (NULL 0, language blobs 7-12, VECTOR 16, unknown types) and for values a typed branch cannot hold exactly (a STRING that is not valid UTF-8, a NaN FLOAT whose bits are not 0x7ff8000000000000, a BOOL byte other than 0 or 1, a value of unexpected length).',
          fields: [
            { name: 'particleType', type: 'int' },
            { name: 'bytes', type: 'bytes' },
          ],
        },
      ],
      default: null,
    },
    { name: 'generation', type: 'long' },
    { name: 'voidTime', type: 'long', doc: 'Expiry in seconds since 2010-01-01T00:00:00Z (the citrusleaf epoch); 0 = never expires.' },
    {
      name: 'lastUpdateTime',
      type: ['null', { type: 'long', logicalType: 'timestamp-nanos' }],
      default: null,
      doc: 'Last update time in nanoseconds since the Unix epoch, when the backup had it.',
    },
    {
      name: 'bins',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'Bin',
          fields: [
            { name: 'name', type: 'string' },
            {
              name: 'value',
              type: [
                'long',
                'double',
                'string',
                'boolean',
                'bytes',
                {
                  type: 'record',
                  name: 'List',
                  doc: 'LIST (20): the server msgpack bytes, order flags included.',
                  fields: [{ name: 'list', type: 'bytes' }],
                },
                {
                  type: 'record',
                  name: 'Map',
                  doc: 'MAP (19): the server msgpack bytes, order flags included.',
                  fields: [{ name: 'map', type: 'bytes' }],
                },
                {
                  type: 'record',
                  name: 'GeoJson',
                  doc: 'GEOJSON (23), stored by the server as u8 flags, u16 big-endian cell count, the cells as u64 big-endian S2 cell ids, then the JSON text.',
                  fields: [
                    { name: 'flags', type: 'int' },
                    { name: 'cells', type: { type: 'array', items: 'long' }, doc: 'S2 cell ids as signed 64-bit (two\'s complement of the u64).' },
                    { name: 'json', type: 'string' },
                  ],
                },
                {
                  type: 'record',
                  name: 'Hll',
                  doc: 'HLL (18): the server HyperLogLog bytes.',
                  fields: [{ name: 'hll', type: 'bytes' }],
                },
                'Particle',
              ],
            },
          ],
        },
      },
    },
  ],
} as const;

/** Secondary indexes and UDF modules of the backed-up namespace (schemas/metadata.v1.avsc). */
export const METADATA_SCHEMA_V1 = {
  type: 'record',
  name: 'Metadata',
  namespace: 'aerobak.v1',
  doc: 'The secondary indexes and UDF modules of a backed-up namespace.',
  fields: [
    {
      name: 'indexes',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'SecondaryIndex',
          fields: [
            { name: 'namespace', type: 'string' },
            { name: 'name', type: 'string' },
            { name: 'set', type: ['null', 'string'], default: null, doc: 'null for an index over all sets.' },
            { name: 'bin', type: ['null', 'string'], default: null, doc: 'null for an expression index.' },
            {
              name: 'binType',
              type: { type: 'enum', name: 'IndexBinType', symbols: ['numeric', 'string', 'blob', 'geo2dsphere'] },
            },
            {
              name: 'collectionType',
              type: { type: 'enum', name: 'IndexCollectionType', symbols: ['default', 'list', 'mapkeys', 'mapvalues'] },
            },
            {
              name: 'context',
              type: ['null', 'string'],
              default: null,
              doc: 'Base64 of the msgpack CDT context, exactly as the server lists it (sindex-list b64=true).',
            },
            {
              name: 'expression',
              type: ['null', 'string'],
              default: null,
              doc: 'Base64 of the msgpack expression of an expression index (server 8.1+).',
            },
          ],
        },
      },
    },
    {
      name: 'udfs',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'UdfModule',
          fields: [
            { name: 'filename', type: 'string' },
            { name: 'type', type: 'string', doc: "The module language as the server names it ('LUA')." },
            { name: 'content', type: 'bytes' },
          ],
        },
      },
    },
  ],
} as const;
