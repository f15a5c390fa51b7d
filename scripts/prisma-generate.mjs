#!/usr/bin/env node
// `prisma generate` without Prisma's native schema engine (which cannot be downloaded here): Prisma 7 only
// needs PRISMA_SCHEMA_ENGINE_BINARY to point at some path for `generate`. Migrations run through prisma/migrate.ts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) {
  const dummy = join(root, '.cache', 'prisma', 'no-schema-engine');
  if (!existsSync(dummy)) {
    mkdirSync(dirname(dummy), { recursive: true });
    writeFileSync(dummy, '#!/bin/sh\necho "schema engine not available: use npm run migrate" >&2\nexit 1\n', {
      mode: 0o755,
    });
  }
  env.PRISMA_SCHEMA_ENGINE_BINARY = dummy;
}
const r = spawnSync(
  process.execPath,
  [
    join(root, 'node_modules', 'prisma', 'build', 'index.js'),
    'generate',
    '--schema',
    join(root, 'prisma', 'schema.prisma'),
  ],
  {
    env,
    stdio: 'inherit',
    cwd: root,
  },
);
if (r.status !== 0) {
  console.error(
    'prisma-generate: `prisma generate` failed (see above). Run `npm ci` first; if it still fails, check prisma/schema.prisma.',
  );
  process.exit(1);
}
