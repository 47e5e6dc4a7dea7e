/**
 * Cluster-wide system metadata (the server's SMD): secondary-index definitions and UDF
 * modules. Shared by every node, like SMD after it converges.
 *
 * Secondary indexes are definitions only: nothing is built, `sindex/<ns>/<name>` reports
 * load_pct=100 at once (so a client's IndexJob completes) and counts entries by scanning
 * the set, and queries that use an index are answered with 16 UNSUPPORTED_FEATURE.
 * UDF modules are stored as sent; the Lua is not compiled (the real server answers a
 * compile error with `error=compile_error;...`), and no UDF ever runs here.
 */
import { createHash } from 'node:crypto';

export interface SindexDefinition {
  namespace: string;
  name: string;
  set: string | undefined;
  bin: string | undefined;
  /** 'numeric' | 'string' | 'blob' | 'geo2dsphere' */
  keyType: string;
  /** 'default' | 'list' | 'mapkeys' | 'mapvalues' */
  indexType: string;
  /** Base64 msgpack CDT context, as sent. */
  context: string | undefined;
  /** Base64 expression, as sent. */
  exp: string | undefined;
}

export interface UdfModule {
  filename: string;
  /** Base64 of the module text, as sent in udf-put. */
  content64: string;
  type: string;
}

export class Metadata {
  private readonly sindexes = new Map<string, SindexDefinition>();
  private readonly udfs = new Map<string, UdfModule>();

  sindexList(namespace?: string): SindexDefinition[] {
    return [...this.sindexes.values()].filter((s) => namespace === undefined || s.namespace === namespace);
  }

  sindex(namespace: string, name: string): SindexDefinition | undefined {
    return this.sindexes.get(`${namespace}\0${name}`);
  }

  /** 'created', 'exists' (same definition) or 'conflict' (same name, other definition). */
  createSindex(def: SindexDefinition): 'created' | 'exists' | 'conflict' {
    const key = `${def.namespace}\0${def.name}`;
    const old = this.sindexes.get(key);
    if (old) return sameDefinition(old, def) ? 'exists' : 'conflict';
    this.sindexes.set(key, def);
    return 'created';
  }

  /** Deleting an index that does not exist is not an error (the server replies ok). */
  deleteSindex(namespace: string, name: string): void {
    this.sindexes.delete(`${namespace}\0${name}`);
  }

  udfList(): UdfModule[] {
    return [...this.udfs.values()];
  }

  udf(filename: string): UdfModule | undefined {
    return this.udfs.get(filename);
  }

  putUdf(module: UdfModule): void {
    this.udfs.set(module.filename, module);
  }

  removeUdf(filename: string): void {
    this.udfs.delete(filename);
  }
}

function sameDefinition(a: SindexDefinition, b: SindexDefinition): boolean {
  return (
    a.set === b.set &&
    a.bin === b.bin &&
    a.keyType === b.keyType &&
    a.indexType === b.indexType &&
    a.context === b.context &&
    a.exp === b.exp
  );
}

/**
 * The `hash` that udf-list reports: SHA-1 of the SMD value, which the server builds with
 * jansson as `{"content64": "<base64>", "type": "LUA", "name": "<filename>"}`.
 */
export function udfHash(module: UdfModule): string {
  const smdValue = `{"content64": ${JSON.stringify(module.content64)}, "type": ${JSON.stringify(module.type)}, "name": ${JSON.stringify(module.filename)}}`;
  return createHash('sha1').update(smdValue).digest('hex');
}
