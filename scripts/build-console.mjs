#!/usr/bin/env node
/**
 * Bundles the operator console (console/src, Preact + htm, TypeScript) with esbuild into dist/console/:
 * app-<hash>.js, app-<hash>.css and index.html naming them. Offline, no CDN; the dlt-processor serves the folder at
 * /console. Part of `npm run build` (after `tsc -p console/tsconfig.json` type-checks it). `--outdir <dir>` writes
 * elsewhere (the size test builds into a temporary folder).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--outdir');
const outdir = at > 0 && process.argv[at + 1] ? resolve(process.argv[at + 1]) : join(root, 'dist', 'console');
// Old hashed files would linger in the default folder (and be served): start it empty.
if (at < 0) rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });

const result = await build({
  entryPoints: { app: join(root, 'console', 'src', 'main.ts') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022'],
  platform: 'browser',
  entryNames: '[name]-[hash]',
  outdir,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((f) => basename(f));
const js = outputs.find((f) => f.endsWith('.js'));
const css = outputs.find((f) => f.endsWith('.css'));
if (!js || !css) throw new Error(`console build: expected a .js and a .css output, got ${outputs.join(', ')}`);
const html = readFileSync(join(root, 'console', 'index.html'), 'utf8')
  .replaceAll('{{js}}', `/console/${js}`)
  .replaceAll('{{css}}', `/console/${css}`);
writeFileSync(join(outdir, 'index.html'), html);
console.log(`console: ${relative(root, outdir) || '.'}/{index.html,${js},${css}}`);
