// Shared by kafka-fetch.mjs and registry-fetch.mjs: checks for java and mvn, runs one mvn goal with its
// downloads streamed as numbered progress lines, and turns a failure into one line saying what to do.
import { spawn, spawnSync } from 'node:child_process';

/** Exits 1 with `<tool>: <line>` on stderr. */
export function failWith(tool, line) {
  console.error(`${tool}: ${line}`);
  process.exit(1);
}

/** java and mvn must work, else exit with the install hint. */
export function requireJavaAndMaven(tool, what) {
  for (const [cmd, args, hint] of [
    [
      'java',
      ['-version'],
      'Java 17+ is required: install a JDK (e.g. apt-get install openjdk-17-jdk-headless) and retry.',
    ],
    ['mvn', ['-v'], `Apache Maven is required to fetch ${what}: install it (e.g. apt-get install maven) and retry.`],
  ]) {
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    if (r.error || r.status !== 0) failWith(tool, `${cmd} not found or not working. ${hint}`);
  }
}

/**
 * Runs `mvn -B <extra> <args>`, printing each downloaded artifact whose name ends with one of `suffixes`
 * (and, with `announce`, each such transfer as it starts). Extra mvn
 * flags (e.g. -s settings.xml, -Dmaven.repo.local=...) may come from KAFKA_FETCH_MVN_ARGS. On failure exits with
 * `unreachableHint` when Maven Central could not be reached, else with `rerunHint`.
 */
export async function runMvn(tool, args, { suffixes, announce = false, cwd, unreachableHint, rerunHint, cleanup }) {
  const extra = (process.env.KAFKA_FETCH_MVN_ARGS ?? '').split(/\s+/).filter(Boolean);
  const r = await new Promise((res) => {
    const child = spawn('mvn', ['-B', ...extra, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let pending = '';
    let downloads = 0;
    const onData = (chunk) => {
      out += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        // A big artifact (announce) gets a line when its transfer starts too: -B shows no transfer progress.
        const start = announce ? /Downloading from \S+: (\S+)/.exec(line) : null;
        if (start && suffixes.some((s) => start[1].endsWith(s)))
          process.stdout.write(`  downloading ${start[1].split('/').pop()} ...\n`);
        const m = /Downloaded from \S+: (\S+)(?: \(([^)]+)\))?/.exec(line);
        if (m && suffixes.some((s) => m[1].endsWith(s))) {
          downloads += 1;
          process.stdout.write(`  [${downloads}] ${m[1].split('/').pop()}${m[2] ? ` (${m[2]})` : ''}\n`);
        }
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.on('error', (error) => res({ status: null, error, out }));
    child.on('close', (status) => res({ status, out }));
  });
  if (r.status === 0) return;
  cleanup?.();
  const unreachable =
    !/Could not find artifact/.test(r.out) &&
    /Could not transfer|UnknownHost|Connection refused|Network is unreachable|timed out|Connect to/i.test(r.out);
  failWith(tool, unreachable ? unreachableHint : `mvn failed (exit ${r.status}); ${rerunHint}`);
}
