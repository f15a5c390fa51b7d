#!/usr/bin/env node
// Fetches the Apache Kafka broker jars from Maven Central (via mvn, reusing ~/.m2) into
// .cache/kafka/<version>/libs. A no-op when the cache is complete. Exit 1 with one line saying what to do.
import { spawn, spawnSync } from 'node:child_process';
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
// Streamed, so a first fetch shows each artifact as it arrives. Extra mvn flags (e.g. -s settings.xml,
// -Dmaven.repo.local=...) may come from KAFKA_FETCH_MVN_ARGS.
const extra = (process.env.KAFKA_FETCH_MVN_ARGS ?? '').split(/\s+/).filter(Boolean);
const r = await new Promise((res) => {
  const child = spawn(
    'mvn',
    [
      '-B',
      ...extra,
      '-f',
      pom,
      'dependency:copy-dependencies',
      `-DoutputDirectory=${tmp}`,
      '-DincludeScope=runtime',
      '-Dmdep.useRepositoryLayout=false',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let pending = '';
  let downloads = 0;
  const onData = (chunk) => {
    out += chunk;
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const m = /Downloaded from \S+: (\S+)/.exec(line);
      if (m?.[1].endsWith('.jar')) {
        downloads += 1;
        process.stdout.write(`  [${downloads}] ${m[1].split('/').pop()}\n`);
      }
    }
  };
  child.stdout.setEncoding('utf8').on('data', onData);
  child.stderr.setEncoding('utf8').on('data', onData);
  child.on('error', (error) => res({ status: null, error, out }));
  child.on('close', (status) => res({ status, out }));
});
const out = r.out;
if (r.status !== 0) {
  rmSync(tmp, { recursive: true, force: true });
  const unreachable =
    !/Could not find artifact/.test(out) &&
    /Could not transfer|UnknownHost|Connection refused|Network is unreachable|timed out|Connect to/i.test(out);
  fail(
    unreachable
      ? 'Maven Central is unreachable: check the network/proxy (~/.m2/settings.xml) or set KAFKA_BROKERS to use an existing cluster.'
      : `mvn failed (exit ${r.status}); run "mvn -f scripts/kafka/pom.xml dependency:copy-dependencies" to see why.`,
  );
}
// Another fetch (a parallel test run) may have finished first: keep its complete cache and drop ours.
if (existsSync(marker)) rmSync(tmp, { recursive: true, force: true });
else {
  rmSync(libs, { recursive: true, force: true });
  renameSync(tmp, libs);
  writeFileSync(marker, new Date().toISOString());
}
console.log(
  `kafka-fetch: ${readdirSync(libs).length} jars in ${libs} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
);
