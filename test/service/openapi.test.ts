/**
 * The OpenAPI document of `aerobak serve`: openapi/aerobak-serve.json is the document the
 * service serves at /openapi.json (src/service/openapi.ts), it covers every route of the
 * API, and it is well formed (every $ref resolves, every path parameter is declared,
 * every operation has responses). No OpenAPI validator is a dependency of the project,
 * so the structure is checked here.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { OPENAPI } from '../../src/service/openapi.js';

const file = async () => JSON.parse(await readFile(new URL('../../openapi/aerobak-serve.json', import.meta.url), 'utf8')) as typeof OPENAPI & { info: { version: string } };

describe('the OpenAPI document', () => {
  it('is the one the service serves (regenerate the file with writeOpenApiFile() when this fails)', async () => {
    const stored = await file();
    const served = JSON.parse(JSON.stringify(OPENAPI)) as typeof stored;
    // A version bump alone does not make the file stale.
    stored.info.version = served.info.version;
    expect(stored).toEqual(served);
  });

  it('documents every route of the API', () => {
    expect(Object.keys(OPENAPI.paths).sort()).toEqual(
      [
        '/',
        '/healthz',
        '/metrics',
        '/openapi.json',
        '/v1/routines',
        '/v1/routines/{name}',
        '/v1/routines/{name}/backups',
        '/v1/routines/{name}/verify',
        '/v1/routines/{name}/drill',
        '/v1/repositories',
        '/v1/repositories/{name}/backups',
        '/v1/restores',
        '/v1/jobs',
        '/v1/jobs/{id}',
        '/v1/jobs/{id}/cancel',
      ].sort(),
    );
  });

  it('is well formed: refs resolve, path parameters are declared, operations have responses', () => {
    const doc = JSON.parse(JSON.stringify(OPENAPI)) as Record<string, any>;
    expect(doc.openapi).toMatch(/^3\.0\.\d$/);
    const refs: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === '$ref') refs.push(x as string);
          else walk(x);
        }
      }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) {
      const target = ref.replace(/^#\//, '').split('/').reduce<any>((o, k) => o?.[k], doc);
      expect(target, ref).toBeDefined();
    }
    for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
      const params = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries<Record<string, any>>(item)) {
        expect(['get', 'post'], `${method} ${path}`).toContain(method);
        expect(Object.keys(op.responses ?? {}).length, `${method} ${path}`).toBeGreaterThan(0);
        const declared = (op.parameters ?? []).filter((p: { in: string }) => p.in === 'path').map((p: { name: string }) => p.name);
        expect(declared.sort(), `${method} ${path}`).toEqual(params.sort());
        if (path !== '/healthz' && path !== '/') expect(op.security, `${method} ${path}`).toBeUndefined();
      }
    }
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    expect(doc.paths['/'].get.security).toEqual([]);
    expect(doc.security).toEqual([{ bearer: [] }]);
  });
});
