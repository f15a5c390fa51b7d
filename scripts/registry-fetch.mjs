#!/usr/bin/env node
// Fetches Apicurio Registry (a Confluent-compatible schema registry, as a ready-to-run Quarkus app) from Maven
// Central (via mvn, reusing ~/.m2) and unpacks it into .cache/apicurio/<version>. A no-op when the cache is complete.
// Exit 1 with one line saying what to do. The artifact is named in scripts/registry/apicurio.json.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { failWith, requireJavaAndMaven, runMvn } from './mvn-fetch.mjs';

const TOOL = 'registry-fetch';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const app = JSON.parse(readFileSync(join(root, 'scripts', 'registry', 'apicurio.json'), 'utf8'));
const target = join(process.env.APICURIO_CACHE_DIR ?? join(root, '.cache', 'apicurio'), app.version);
const appDir = join(target, 'app');
const marker = join(target, 'complete');
const runner = `${app.artifactId}-${app.version}-runner.jar`;

if (existsSync(marker) && existsSync(join(appDir, runner))) {
  if (!process.argv.includes('--quiet')) console.log(`${TOOL}: Apicurio Registry ${app.version} ready in ${appDir}`);
  process.exit(0);
}
requireJavaAndMaven(TOOL, 'Apicurio Registry');
console.log(`${TOOL}: fetching Apicurio Registry ${app.version} from Maven Central (first run only, ~140 MB) ...`);
const tmp = `${appDir}.tmp-${process.pid}`;
rmSync(tmp, { recursive: true, force: true });
mkdirSync(target, { recursive: true });
const started = Date.now();
const artifact = `${app.groupId}:${app.artifactId}:${app.version}:${app.type}:${app.classifier}`;
// Outside a project, unpack writes its "already unpacked" markers under <cwd>/${project.basedir}: run mvn in a
// scratch dir, removed after (a kept marker would also make a later fetch skip the unpack).
const markers = `${tmp}-mvn`;
mkdirSync(markers, { recursive: true });
const cleanup = () => {
  rmSync(tmp, { recursive: true, force: true });
  rmSync(markers, { recursive: true, force: true });
};
await runMvn(
  TOOL,
  [
    'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:unpack',
    `-Dartifact=${artifact}`,
    `-DoutputDirectory=${tmp}`,
  ],
  {
    suffixes: [`.${app.type}`],
    announce: true,
    cwd: markers,
    cleanup,
    unreachableHint:
      'Maven Central is unreachable: check the network/proxy (~/.m2/settings.xml) or point the tests at a running registry with TEST_SCHEMA_REGISTRY_URL.',
    rerunHint: `run "mvn dependency:unpack -Dartifact=${artifact} -DoutputDirectory=/tmp/apicurio" to see why.`,
  },
);
rmSync(markers, { recursive: true, force: true });
if (!existsSync(join(tmp, runner))) {
  cleanup();
  failWith(TOOL, `the unpacked archive has no ${runner}: check scripts/registry/apicurio.json.`);
}
// Another fetch (a parallel run) may have finished first: keep its complete copy and drop ours.
if (existsSync(marker)) rmSync(tmp, { recursive: true, force: true });
else {
  rmSync(appDir, { recursive: true, force: true });
  renameSync(tmp, appDir);
  writeFileSync(marker, new Date().toISOString());
}
console.log(
  `${TOOL}: Apicurio Registry ${app.version} in ${appDir} (${readdirSync(join(appDir, 'lib')).length} jars, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
);
