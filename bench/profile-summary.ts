/**
 * Summarizes V8 CPU profiles written by `AEROBAK_BENCH_PROFILE=1 npm run bench`:
 *
 *   npx tsx bench/profile-summary.ts bench/results/profiles/<case>-r1-<time>/ [--top 25]
 *
 * A directory is summarized by its main thread's profile (the one that ran the case
 * script; the module loader's thread writes one too). Prints the functions with the most self time and their inclusive
 * time, the hottest source lines, and where the time goes by area (aerobak's src/, the
 * benchmark, node internals, GC, idle). TS positions are recovered by transpiling each
 * file again exactly as the profiling loader did (lib/profile-transpile.mjs), so run this
 * before the sources change.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_DIR } from './lib/config.js';
// @ts-expect-error: a plain .mjs module shared with the loader (no type declarations)
import { transpile } from './lib/profile-transpile.mjs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
  positionTicks?: Array<{ line: number; ticks: number }>;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
const targets = args.filter((a, i) => !a.startsWith('--') && (topAt < 0 || i !== topAt + 1));
if (targets.length === 0) {
  console.error('usage: npx tsx bench/profile-summary.ts <file.cpuprofile | directory>... [--top 25]');
  process.exit(2);
}

const maps = new Map<string, { map: SourceMap; lines: string[] } | null>();
function sourceOf(url: string): { map: SourceMap; lines: string[] } | null {
  if (!url.startsWith('file://') || !url.endsWith('.ts')) return null;
  if (!maps.has(url)) {
    try {
      const path = fileURLToPath(url);
      const text = readFileSync(path, 'utf8');
      const { map } = transpile(text, path) as { map: ConstructorParameters<typeof SourceMap>[0] };
      maps.set(url, { map: new SourceMap(map), lines: text.split('\n') });
    } catch {
      maps.set(url, null);
    }
  }
  return maps.get(url)!;
}

function shortPath(url: string): string {
  if (!url) return '';
  if (url.startsWith('file://')) return relative(REPO_DIR, fileURLToPath(url));
  return url;
}

/** "src/x.ts:123" (1-based TS line) for a generated 0-based line/column, or the raw position. */
function where(url: string, line0: number, col0: number): { label: string; tsLine?: number } {
  const src = sourceOf(url);
  if (src) {
    const e = src.map.findEntry(line0, col0) as { originalLine?: number };
    if (e && typeof e.originalLine === 'number') return { label: `${shortPath(url)}:${e.originalLine + 1}`, tsLine: e.originalLine + 1 };
  }
  return { label: url ? `${shortPath(url)}:${line0 + 1}` : '' };
}

function area(url: string, name: string): string {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)') return 'idle';
  if (name === '(program)') return 'program (native, unattributed)';
  if (url.includes('/node_modules/')) return `node_modules/${url.split('/node_modules/')[1]!.split('/')[0]}`;
  if (url.startsWith('node:')) return 'node internals';
  if (url.startsWith('file://')) {
    const p = shortPath(url);
    return p.startsWith('src/') ? p.split('/').slice(0, 2).join('/') : p.split('/')[0]!;
  }
  return url === '' ? 'native / (root)' : url;
}

function pickFile(target: string): string {
  if (!statSync(target).isDirectory()) return target;
  const files = readdirSync(target)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(target, f))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  if (files.length === 0) throw new Error(`no .cpuprofile in ${target}`);
  // The main thread is the one that ran the case script; the loader's thread (which runs
  // the transpiler, and is bigger at times) is the one with `transpile` frames.
  const isLoader = (f: string) => (JSON.parse(readFileSync(f, 'utf8')) as Profile).nodes.some((n) => n.callFrame.functionName === 'transpile' && n.callFrame.url.endsWith('profile-transpile.mjs'));
  return files.find((f) => !isLoader(f)) ?? files[0]!;
}

function summarize(file: string): void {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n: ProfileNode) => `${n.callFrame.functionName}|${n.callFrame.url}|${n.callFrame.lineNumber}|${n.callFrame.columnNumber}`;

  const selfUs = new Map<number, number>();
  let totalUs = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const d = prof.timeDeltas[i + 1] ?? 0;
    selfUs.set(prof.samples[i]!, (selfUs.get(prof.samples[i]!) ?? 0) + d);
    totalUs += d;
  }
  const idleUs = [...selfUs].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((n, [, us]) => n + us, 0);

  // Self and inclusive time per function (recursion counted once per stack).
  const pathKeys = new Map<number, string[]>();
  const keysOf = (id: number): string[] => {
    let keys = pathKeys.get(id);
    if (keys) return keys;
    const n = byId.get(id)!;
    const up = parent.has(id) ? keysOf(parent.get(id)!) : [];
    const k = keyOf(n);
    keys = up.includes(k) ? up : [...up, k];
    pathKeys.set(id, keys);
    return keys;
  };
  const fn = new Map<string, { node: ProfileNode; self: number; total: number }>();
  const areas = new Map<string, number>();
  const lines = new Map<string, number>();
  let lineTicks = 0;
  // Module loading (the main thread waiting for the loader's thread) is startup, not the case.
  const LOADING = /^(makeSyncRequest|makeAsyncRequest|waitForWorker)\|/;
  let loadingUs = 0;
  for (const [id, us] of selfUs) {
    if (keysOf(id).some((k) => LOADING.test(k))) {
      loadingUs += us;
      selfUs.delete(id);
    }
  }
  const busyUs = totalUs - idleUs - loadingUs;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const k = keyOf(n);
    const e = fn.get(k) ?? { node: n, self: 0, total: 0 };
    e.self += us;
    fn.set(k, e);
    const a = area(n.callFrame.url, n.callFrame.functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
    for (const key of keysOf(id)) {
      const f = fn.get(key) ?? { node: prof.nodes.find((x) => keyOf(x) === key)!, self: 0, total: 0 };
      f.total += us;
      fn.set(key, f);
    }
  }
  for (const n of prof.nodes) {
    for (const t of n.positionTicks ?? []) {
      const w = where(n.callFrame.url, t.line - 1, 0);
      const label = `${w.label}  ${n.callFrame.functionName || '(anonymous)'}`;
      lines.set(label, (lines.get(label) ?? 0) + t.ticks);
      lineTicks += t.ticks;
    }
  }

  const ms = (us: number) => (us / 1000).toFixed(0).padStart(7);
  const pct = (us: number) => `${((100 * us) / busyUs).toFixed(1).padStart(5)}%`;
  console.log(`\n=== ${file}`);
  console.log(
    `wall ${((prof.endTime - prof.startTime) / 1e6).toFixed(2)} s, busy ${(busyUs / 1e6).toFixed(2)} s (not idle, not module loading: ${(loadingUs / 1e6).toFixed(2)} s); percentages are of busy time\n`,
  );
  console.log('By area (self time):');
  for (const [a, us] of [...areas].filter(([a]) => a !== 'idle').sort((x, y) => y[1] - x[1]).slice(0, 15)) console.log(`  ${ms(us)} ms ${pct(us)}  ${a}`);

  console.log(`\nTop ${top} functions by self time (self ms, self %, inclusive %):`);
  const ranked = [...fn.values()].filter((e) => e.node.callFrame.functionName !== '(idle)').sort((a, b) => b.self - a.self);
  for (const e of ranked.slice(0, top)) {
    const c = e.node.callFrame;
    console.log(`  ${ms(e.self)} ${pct(e.self)} ${pct(e.total)}  ${(c.functionName || '(anonymous)').padEnd(34)} ${where(c.url, c.lineNumber, c.columnNumber).label}`);
  }

  console.log(`\nTop ${top} functions of the project by inclusive time:`);
  const own = [...fn.values()].filter((e) => e.node.callFrame.url.startsWith('file://') && !e.node.callFrame.url.includes('/node_modules/'));
  for (const e of own.sort((a, b) => b.total - a.total).slice(0, top)) {
    const c = e.node.callFrame;
    console.log(`  ${ms(e.total)} ${pct(e.total)}  ${(c.functionName || '(anonymous)').padEnd(34)} ${where(c.url, c.lineNumber, c.columnNumber).label}`);
  }

  if (lineTicks > 0) {
    console.log(`\nTop ${top} source lines (share of line-attributed ticks):`);
    for (const [label, ticks] of [...lines].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      const m = /^(.*\.ts):(\d+)\s/.exec(label);
      let text = '';
      if (m) {
        const src = sourceOf(`file://${join(REPO_DIR, m[1]!)}`);
        text = src?.lines[Number(m[2]) - 1]?.trim().slice(0, 70) ?? '';
      }
      console.log(`  ${((100 * ticks) / lineTicks).toFixed(1).padStart(5)}%  ${label}${text ? `   | ${text}` : ''}`);
    }
  }
}

for (const t of targets) summarize(pickFile(t));
