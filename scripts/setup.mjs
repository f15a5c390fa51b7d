#!/usr/bin/env node
/**
 * `npm run up` (and `npm run setup`): makes a fresh clone runnable, idempotently, then (for `up`) starts the hub.
 *
 *   1. checks Node (>= 20.19), and Java 17+ and Maven when the local Kafka broker is needed (no KAFKA_BROKERS);
 *   2. `npm ci` when node_modules is missing or older than package-lock.json;
 *   3. the Kafka broker jars from Maven Central (cached in ~/.m2; skipped with KAFKA_BROKERS);
 *   4. `prisma generate` when the generated client is missing or older than prisma/schema.prisma;
 *   5. `npm run build` (tsc; about two seconds);
 *   6. with `--start`: runs the launcher (dist/scripts/hub.js) in the foreground; Ctrl-C stops the hub in order.
 *
 * Plain Node built-ins only: it runs before any dependency is installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const start = process.argv.includes('--start');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const t0 = Date.now();

function fail(message) {
  process.stderr.write(`\nsetup: ${message}\n`);
  process.exit(1);
}

function step(message) {
  process.stdout.write(`setup: ${message} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
}

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env });
  if (r.error) fail(`${what} could not run: ${r.error.message}`);
  if (r.status !== 0) fail(`${what} failed (exit ${r.status ?? r.signal}); see the output above`);
}

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function newest(dir) {
  if (!existsSync(dir)) return 0;
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) max = Math.max(max, mtime(join(entry.parentPath ?? entry.path, entry.name)));
  }
  return max;
}

// 1. Prerequisites.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) fail(`Node 20.19 or newer is required (this is ${process.version})`);
const needLocalKafka = !process.env.KAFKA_BROKERS;
if (needLocalKafka) {
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (java.error)
    fail(
      'Java 17+ is needed for the local Kafka broker: install a JDK 17 (e.g. `apt-get install openjdk-17-jre-headless`), or set KAFKA_BROKERS to use an existing Kafka',
    );
  const v = /version "(\d+)/.exec(`${java.stderr}${java.stdout}`);
  if (v && Number(v[1]) < 17)
    fail(`Java 17+ is needed for the local Kafka broker (found Java ${v[1]}); or set KAFKA_BROKERS`);
  const mvn = spawnSync('mvn', ['-v'], { encoding: 'utf8' });
  if (mvn.error)
    fail(
      'Maven is needed once, to fetch the Kafka jars from Maven Central: install it (e.g. `apt-get install maven`), or set KAFKA_BROKERS',
    );
}

// 2. Dependencies.
const lockStamp = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(lockStamp) || mtime(join(root, 'package-lock.json')) > mtime(lockStamp)) {
  step('installing dependencies (npm ci)');
  run(npm, ['ci', '--no-audit', '--no-fund'], 'npm ci');
} else step('dependencies are installed');

// 3. Kafka jars.
if (needLocalKafka) {
  step('Kafka broker jars (fetched from Maven Central on first run, then cached)');
  run(process.execPath, [join(root, 'scripts', 'kafka-fetch.mjs')], 'fetching the Kafka jars');
} else step(`using Kafka at ${process.env.KAFKA_BROKERS}; no local broker needed`);

// 4. Prisma client.
const generated = join(root, 'generated');
if (newest(generated) < mtime(join(root, 'prisma', 'schema.prisma'))) {
  step('generating the Prisma client');
  run(npm, ['run', '--silent', 'prisma:generate'], 'prisma generate');
} else step('Prisma client is up to date');

// 5. Build.
step('building (tsc)');
run(npm, ['run', '--silent', 'build'], 'the build');

if (!start) {
  step('ready: `npm start` runs the hub, `npm test` runs the tests');
  process.exit(0);
}

// 6. The hub, in the foreground. The launcher handles Ctrl-C itself (it is in the terminal's process group and
// gets the SIGINT directly); a SIGTERM sent to this process (e.g. by a process manager) is passed on.
step('starting the hub');
const hub = spawn(process.execPath, ['--enable-source-maps', join(root, 'dist', 'scripts', 'hub.js')], {
  cwd: root,
  stdio: 'inherit',
  env: process.env,
});
process.on('SIGINT', () => {});
process.on('SIGTERM', () => hub.kill('SIGTERM'));
hub.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
