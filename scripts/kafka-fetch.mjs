#!/usr/bin/env node
// Fetches the Apache Kafka broker jars from Maven Central (via mvn, reusing ~/.m2) into
// .cache/kafka/<version>/libs. A no-op when the cache is complete. Exit 1 with one line saying what to do.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireJavaAndMaven, runMvn } from './mvn-fetch.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pom = join(root, 'scripts', 'kafka', 'pom.xml');
const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(pom, 'utf8'))[1];
const target = join(process.env.KAFKA_CACHE_DIR ?? join(root, '.cache', 'kafka'), version);
const libs = join(target, 'libs');
const marker = join(target, 'complete');

export function kafkaLibsDir() {
  return libs;
}

if (existsSync(marker) && existsSync(libs) && readdirSync(libs).some((f) => f.startsWith('kafka_2.13-'))) {
  if (!process.argv.includes('--quiet')) console.log(`kafka-fetch: Kafka ${version} jars ready in ${libs}`);
  process.exit(0);
}
requireJavaAndMaven('kafka-fetch', 'the Kafka jars');
console.log(`kafka-fetch: fetching Apache Kafka ${version} broker jars from Maven Central (first run only) ...`);
const tmp = `${libs}.tmp-${process.pid}`;
rmSync(tmp, { recursive: true, force: true });
mkdirSync(dirname(libs), { recursive: true });
const started = Date.now();
// Streamed, so a first fetch shows each artifact as it arrives.
await runMvn(
  'kafka-fetch',
  [
    '-f',
    pom,
    'dependency:copy-dependencies',
    `-DoutputDirectory=${tmp}`,
    '-DincludeScope=runtime',
    '-Dmdep.useRepositoryLayout=false',
  ],
  {
    suffixes: ['.jar'],
    cleanup: () => rmSync(tmp, { recursive: true, force: true }),
    unreachableHint:
      'Maven Central is unreachable: check the network/proxy (~/.m2/settings.xml) or set KAFKA_BROKERS to use an existing cluster.',
    rerunHint: 'run "mvn -f scripts/kafka/pom.xml dependency:copy-dependencies" to see why.',
  },
);
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
