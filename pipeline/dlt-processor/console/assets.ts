/**
 * The operator console's built files (`npm run build` writes them to `dist/console/`, see scripts/build-console.mjs),
 * read once at start and kept in memory with their gzip form: a handful of small files, so no static-file plugin.
 *
 *   index.html          no-cache (it names the current asset hashes)
 *   app-<hash>.js/.css  immutable for a year (a new build has new names)
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface ConsoleAsset {
  name: string;
  body: Buffer;
  gzip: Buffer;
  contentType: string;
  etag: string;
  cacheControl: string;
}

export type ConsoleAssets = ReadonlyMap<string, ConsoleAsset>;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
};

export const CONSOLE_INDEX = 'index.html';

/** Reads every servable file of `dir` (not recursive); undefined when the console is not built there. */
export function loadConsoleAssets(dir: string): ConsoleAssets | undefined {
  if (!existsSync(join(dir, CONSOLE_INDEX))) return undefined;
  const assets = new Map<string, ConsoleAsset>();
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    const contentType = CONTENT_TYPES[extname(name)];
    if (!contentType || !statSync(file).isFile()) continue;
    const body = readFileSync(file);
    assets.set(name, {
      name,
      body,
      gzip: gzipSync(body, { level: 9 }),
      contentType,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      cacheControl: name === CONSOLE_INDEX ? 'no-cache' : 'public, max-age=31536000, immutable',
    });
  }
  return assets;
}

/**
 * Where the build puts the console: `<repo>/dist/console`, found from this file whether it runs compiled
 * (`dist/pipeline/dlt-processor/console/`) or from source under ts-node/jest (`pipeline/dlt-processor/console/`).
 */
export function defaultConsoleDir(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dist', 'console');
    if (dirname(dir) === dir) return join(from, 'console');
  }
}
