import { describe, expect, it } from 'vitest';
import {
  countObjects,
  getUdf,
  indexCreateCommand,
  listIndexes,
  listUdfs,
  parseIndexEntry,
  planIndex,
  udfPutCommand,
  waitForIndex,
  type IndexDefinition,
  type InfoPort,
} from '../../src/aerospike/metadata.js';
import { InfoCommandError } from '../../src/errors.js';
import { parseInfoRequest } from '../../src/aerospike/wire/info.js';
import { loadCapture } from '../support/captures.js';

/** The info commands the official client sent in info.jsonl, with the server's replies. */
function capturedInfo(): Map<string, string> {
  const frames = loadCapture('info.jsonl').filter((f) => f.type === 1);
  const out = new Map<string, string>();
  for (const f of frames) {
    if (f.dir !== 's2c') continue;
    for (const line of f.frame.subarray(8).toString('utf8').split('\n')) {
      const tab = line.indexOf('\t');
      if (tab > 0) out.set(line.slice(0, tab), line.slice(tab + 1));
    }
  }
  return out;
}

function capturedRequests(): string[] {
  return loadCapture('info.jsonl')
    .filter((f) => f.type === 1 && f.dir === 'c2s')
    .flatMap((f) => parseInfoRequest(f.frame.subarray(8)));
}

/** An InfoPort over a function from command to reply, with `nodes` identical nodes. */
function fakePort(reply: (command: string) => string, nodes = 1): InfoPort & { sent: string[] } {
  const sent: string[] = [];
  const run = (commands: string[]) => {
    sent.push(...commands);
    return new Map(commands.map((c) => [c, reply(c)]));
  };
  return {
    sent,
    info: async (commands) => run(commands),
    infoAll: async (commands) => new Map(Array.from({ length: nodes }, (_, i) => [{ node: i }, run(commands)] as const)),
  };
}

const ctxIndex: IndexDefinition = {
  namespace: 'test',
  name: 'idx_golden_ctx',
  set: 'golden',
  bin: 'l_nested',
  type: 'numeric',
  indexType: 'default',
  context: 'khAA',
};

describe('secondary indexes', () => {
  it('builds the sindex-create commands the official client sends', () => {
    const sent = capturedRequests().filter((c) => c.startsWith('sindex-create:'));
    expect(sent).toHaveLength(3);
    expect(indexCreateCommand({ namespace: 'test', set: 'golden', name: 'idx_golden_int', bin: 'i_small', type: 'numeric', indexType: 'default' })).toBe(sent[0]);
    expect(indexCreateCommand({ namespace: 'test', set: 'golden', name: 'idx_golden_str', bin: 'kind', type: 'string', indexType: 'default' })).toBe(sent[1]);
    expect(indexCreateCommand(ctxIndex)).toBe(sent[2]);
  });

  it('puts indextype, context and expression where the server reads them', () => {
    expect(indexCreateCommand({ namespace: 'n', name: 'i', bin: 'm', type: 'string', indexType: 'mapkeys' })).toBe(
      'sindex-create:namespace=n;indexname=i;indextype=MAPKEYS;bin=m;type=STRING',
    );
    expect(indexCreateCommand({ namespace: 'n', set: 's', name: 'e', expression: 'kxFRAg==', type: 'numeric', indexType: 'default' })).toBe(
      'sindex-create:namespace=n;set=s;indexname=e;exp=kxFRAg==;type=NUMERIC',
    );
  });

  it('parses sindex-list entries in the b64 form, null set and expression indexes included', () => {
    const list = [
      'ns=test:indexname=idx_golden_int:set=golden:bin=i_small:type=numeric:indextype=default:context=null:exp=null:state=RW',
      'ns=test:indexname=idx_golden_ctx:set=golden:bin=l_nested:type=numeric:indextype=default:context=khAA:exp=null:state=RW',
      'ns=test:indexname=all_sets:set=null:bin=tags:type=string:indextype=list:context=null:exp=null:state=WO',
      'ns=test:indexname=by_exp:set=s:bin=null:type=numeric:indextype=default:context=null:exp=kxFRAg==:state=RW',
    ].join(';');
    const port = fakePort(() => list);
    return listIndexes(port, 'test').then((defs) => {
      expect(port.sent).toEqual(['sindex-list:ns=test;b64=true']);
      expect(defs).toEqual([
        { namespace: 'test', name: 'idx_golden_int', set: 'golden', bin: 'i_small', type: 'numeric', indexType: 'default' },
        ctxIndex,
        { namespace: 'test', name: 'all_sets', bin: 'tags', type: 'string', indexType: 'list' },
        { namespace: 'test', name: 'by_exp', set: 's', expression: 'kxFRAg==', type: 'numeric', indexType: 'default' },
      ]);
    });
  });

  it('reads the empty list the server sends when there are no indexes', async () => {
    const replies = capturedInfo();
    expect(replies.get('sindex-list:')).toBe('');
    expect(await listIndexes(fakePort(() => ''), 'test')).toEqual([]);
  });

  it('refuses an entry it cannot restore faithfully', () => {
    expect(() => parseIndexEntry('ns=test:indexname=x:set=s:bin=b:type=vector:indextype=default')).toThrow(/unknown type "vector"/);
    expect(() => parseIndexEntry('ns=test:set=s:bin=b:type=numeric')).toThrow(/without ns or indexname/);
  });

  it('plans: same name and definition exists, another definition conflicts, same definition under another name would be renamed', () => {
    expect(planIndex(ctxIndex, [ctxIndex]).kind).toBe('exists');
    expect(planIndex(ctxIndex, []).kind).toBe('create');
    const otherDef = planIndex(ctxIndex, [{ ...ctxIndex, bin: 'other' }]);
    expect(otherDef.kind).toBe('conflict');
    expect(otherDef.kind === 'conflict' && otherDef.reason).toMatch(/idx_golden_ctx" exists with another definition/);
    const renamed = planIndex(ctxIndex, [{ ...ctxIndex, name: 'old_name' }]);
    expect(renamed.kind === 'conflict' && renamed.reason).toMatch(/"old_name" already indexes .* would rename it/);
    expect(planIndex(ctxIndex, [{ ...ctxIndex, namespace: 'bar' }]).kind).toBe('create');
  });

  it('waits until every node has built the index, polling sindex/<ns>/<name>', async () => {
    const replies = capturedInfo();
    let polls = 0;
    const port = fakePort((c) => {
      expect(c).toBe('sindex/test/idx_golden_str');
      polls++;
      // The capture's first poll said load_pct=0, the second load_pct=100; two nodes poll per round.
      return polls <= 2 ? 'entries=5;load_pct=0;load_time=0' : replies.get('sindex/test/idx_golden_str')!;
    }, 2);
    await waitForIndex(port, 'test', 'idx_golden_str', { intervalMs: 1 });
    expect(polls).toBe(4);
  });

  it('stops waiting when the signal aborts', async () => {
    const controller = new AbortController();
    const port = fakePort(() => 'load_pct=10');
    const waiting = waitForIndex(port, 'test', 'slow', { intervalMs: 5, signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('reports a refused create as an InfoCommandError with the server code', async () => {
    const port = fakePort(() => "ERROR:200:'indexname' already exists with different definition");
    const err = await import('../../src/aerospike/metadata.js').then((m) => m.createIndex(port, ctxIndex)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfoCommandError);
    expect((err as InfoCommandError).resultCode).toBe(200);
    expect((err as Error).message).toContain('already exists with different definition');
  });
});

describe('UDF modules', () => {
  it('builds the udf-put command the official client sends (content-len is the base64 length)', async () => {
    const replies = capturedInfo();
    const put = capturedRequests().find((c) => c.startsWith('udf-put:'))!;
    const udf = await getUdf(fakePort((c) => replies.get(c)!), 'golden_udf.lua');
    expect(udf?.content.toString('utf8')).toContain('function add_one(rec, bin)');
    expect(udfPutCommand(udf!)).toBe(put);
  });

  it('lists modules and treats a missing module as absent', async () => {
    // The reply of udf-list while the module was registered (info.jsonl seq 47).
    const listed = 'filename=golden_udf.lua,hash=61d53ac8299e7386dfc31c26890d6f6f2bd04767,type=LUA;';
    expect(await listUdfs(fakePort(() => listed))).toEqual([{ filename: 'golden_udf.lua', type: 'LUA' }]);
    expect(await listUdfs(fakePort(() => ''))).toEqual([]);
    expect(await getUdf(fakePort(() => 'error=not_found'), 'gone.lua')).toBeUndefined();
    await expect(getUdf(fakePort(() => 'error=unknown_error'), 'x.lua')).rejects.toThrow(/unknown_error/);
  });
});

describe('object counts', () => {
  it('sums master objects over nodes for a namespace', async () => {
    const port = fakePort(() => 'objects=80;master_objects=40;effective_replication_factor=2', 3);
    expect(await countObjects(port, 'test')).toBe(120);
  });

  it('divides set objects (replicas included) by the replication factor, a set unknown to a node counting zero', async () => {
    const port = fakePort((c) => {
      if (c === 'namespace/test') return 'objects=10;master_objects=5;effective_replication_factor=2';
      if (c === 'sets/test/a') return 'objects=30:tombstones=0:data_used_bytes=1;';
      return '';
    }, 2);
    expect(await countObjects(port, 'test', ['a', 'missing'])).toBe(30);
  });
});
