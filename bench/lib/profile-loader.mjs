// A minimal TypeScript loader for CPU-profiled runs: each .ts module is transpiled with
// typescript.transpileModule (the options in profile-transpile.mjs) and nothing else, so
// bench/profile-summary.ts can transpile the same file again and map a profile's
// generated line:column to the TS source line. (tsx minifies whitespace: every module is
// one line, and the profile's positions cannot be mapped back without its source maps.)
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transpile } from './profile-transpile.mjs';

export async function resolve(specifier, context, nextResolve) {
  // NodeNext style: `./x.js` names `./x.ts` in the source tree.
  if ((specifier.startsWith('.') || specifier.startsWith('file:')) && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
    const url = new URL(specifier, context.parentURL);
    const ts = new URL(url.href.replace(/\.js$/, '.ts'));
    if (!existsSync(fileURLToPath(url)) && existsSync(fileURLToPath(ts))) return { url: ts.href, format: 'module', shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && url.endsWith('.ts')) {
    const path = fileURLToPath(url);
    const source = await readFile(path, 'utf8');
    return { format: 'module', source: transpile(source, path).code, shortCircuit: true };
  }
  return nextLoad(url, context);
}
