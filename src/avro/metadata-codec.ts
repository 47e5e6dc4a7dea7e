/**
 * Backup metadata (secondary indexes and UDF modules) ↔ Avro value of
 * aerobak.v1.Metadata (schemas/metadata.v1.avsc). The metadata file is a container
 * with exactly one such value; writing and reading it through METADATA_CODEC gives
 * back a value deep-equal to the one written.
 */
import type { IndexCollectionType, IndexDefinition, IndexKeyType, UdfModule } from '../aerospike/metadata.js';
import { avroType } from './avro-type.js';
import type { ContainerCodec } from './container.js';
import { METADATA_SCHEMA_V1 } from './schemas.js';

/** What a backup keeps besides records. */
export interface BackupMetadata {
  indexes: IndexDefinition[];
  udfs: UdfModule[];
}

type Optional = null | { string: string };

interface AvroIndex {
  namespace: string;
  name: string;
  set: Optional;
  bin: Optional;
  binType: IndexKeyType;
  collectionType: IndexCollectionType;
  context: Optional;
  expression: Optional;
}

interface AvroMetadata {
  indexes: AvroIndex[];
  udfs: UdfModule[];
}

const METADATA_TYPE = avroType(METADATA_SCHEMA_V1);

const optional = (s: string | undefined): Optional => (s === undefined ? null : { string: s });

function metadataToAvro(m: BackupMetadata): AvroMetadata {
  return {
    indexes: m.indexes.map((i) => ({
      namespace: i.namespace,
      name: i.name,
      set: optional(i.set),
      bin: optional(i.bin),
      binType: i.type,
      collectionType: i.indexType,
      context: optional(i.context),
      expression: optional(i.expression),
    })),
    udfs: m.udfs.map((u) => ({ filename: u.filename, type: u.type, content: u.content })),
  };
}

function avroToMetadata(v: AvroMetadata): BackupMetadata {
  return {
    indexes: v.indexes.map((a) => {
      const def: IndexDefinition = { namespace: a.namespace, name: a.name, type: a.binType, indexType: a.collectionType };
      if (a.set) def.set = a.set.string;
      if (a.bin) def.bin = a.bin.string;
      if (a.context) def.context = a.context.string;
      if (a.expression) def.expression = a.expression.string;
      return def;
    }),
    udfs: v.udfs.map((u) => ({ filename: u.filename, type: u.type, content: u.content })),
  };
}

/** The metadata file holds one aerobak.v1.Metadata value. */
export const METADATA_CODEC: ContainerCodec<BackupMetadata> = {
  schema: METADATA_SCHEMA_V1,
  type: METADATA_TYPE,
  toAvro: metadataToAvro,
  fromAvro: (value) => avroToMetadata(value as AvroMetadata),
};
