#!/usr/bin/env node
// Fetches the Apache Kafka broker jars from Maven Central (via mvn, reusing ~/.m2) into
// .cache/kafka/<version>/libs. A no-op when the cache is complete. Exit 1 with one line saying what to do.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pom = join(root, 'scripts', 'kafka', 'pom.xml');
const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(pom, 'utf8'))[1];
const target = join(process.env.KAFKA_CACHE_DIR ?? join(root, '.cache', 'kafka'), version);
const libs = join(target, 'libs');
const marker = join(target, 'complete');

function fail(line) {
  console.error(`kafka-fetch: ${line}`);
  process.exit(1);
}

export function kafkaLibsDir() {
  return libs;
}

if (existsSync(marker) && existsSync(libs) && readdirSync(libs).some((f) => f.startsWith('kafka_2.13-'))) {
  if (!process.argv.includes('--quiet')) console.log(`kafka-fetch: Kafka ${version} jars ready in ${libs}`);
  process.exit(0);
}
for (const [cmd, args, hint] of [
  [
    'java',
    ['-version'],
    'Java 17+ is required: install a JDK (e.g. apt-get install openjdk-17-jdk-headless) and retry.',
  ],
  [
    'mvn',
    ['-v'],
    'Apache Maven is required to fetch the Kafka jars: install it (e.g. apt-get install maven) and retry.',
  ],
]) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  if (r.error || r.status !== 0) fail(`${cmd} not found or not working. ${hint}`);
}
console.log(`kafka-fetch: fetching Apache Kafka ${version} broker jars from Maven Central (first run only) ...`);
const tmp = `${libs}.tmp-${process.pid}`;
rmSync(tmp, { recursive: true, force: true });
mkdirSync(dirname(libs), { recursive: true });
const started = Date.now();
const r = spawnSync(
  'mvn',
  [
    '-B',
    '-f',
    pom,
    'dependency:copy-dependencies',
    `-DoutputDirectory=${tmp}`,
    '-DincludeScope=runtime',
    '-Dmdep.useRepositoryLayout=false',
  ],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
);
const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
for (const line of out.split('\n')) {
  // Progress: one line per artifact mvn downloads or copies.
  if (/Downloaded from|Copying /.test(line))
    process.stdout.write(`  ${line.replace(/^\[INFO\]\s*/, '').slice(0, 160)}\n`);
}
if (r.status !== 0) {
  rmSync(tmp, { recursive: true, force: true });
  const unreachable = /Could not transfer|UnknownHost|Connection refused|Network is unreachable|timed out/i.test(out);
  fail(
    unreachable
      ? 'Maven Central is unreachable: check the network/proxy (~/.m2/settings.xml) or set KAFKA_BROKERS to use an existing cluster.'
      : `mvn failed (exit ${r.status}); run "mvn -f scripts/kafka/pom.xml dependency:copy-dependencies" to see why.`,
  );
}
rmSync(libs, { recursive: true, force: true });
renameSync(tmp, libs);
writeFileSync(marker, new Date().toISOString());
console.log(
  `kafka-fetch: ${readdirSync(libs).length} jars in ${libs} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
);
