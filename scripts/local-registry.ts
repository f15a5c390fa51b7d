/**
 * A real Confluent-compatible schema registry: Apicurio Registry (in-memory storage) from the Maven Central
 * artifact that scripts/registry-fetch.mjs unpacks. No Docker. Used by the integration tests (once per run), the
 * launcher (HUB_SCHEMA_REGISTRY=local) and the benchmark.
 *
 *   startLocalRegistry() -> fetches once (progress on stderr the first time), starts
 *                           `java -jar apicurio-registry-app-<v>-runner.jar` on loopback and a free port, waits
 *                           until the Confluent API answers, returns its URL (…/apis/ccompat/v7).
 *
 * In-memory storage: schemas live as long as the process. Version and artifact: scripts/registry/apicurio.json
 * (docker-compose.kafka.yml runs the same version as the apicurio/apicurio-registry-mem image).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, guardAgainstOrphan } from './local-kafka';

const ROOT = resolve(__dirname, '..', existsSync(resolve(__dirname, '..', 'package.json')) ? '' : '..');

interface AppCoordinates {
  groupId: string;
  artifactId: string;
  version: string;
}

export function registryApp(): AppCoordinates {
  return JSON.parse(readFileSync(join(ROOT, 'scripts', 'registry', 'apicurio.json'), 'utf8')) as AppCoordinates;
}

/** The Confluent-compatible API under the registry's root URL (what SCHEMA_REGISTRY_URL points at). */
export const CCOMPAT_PATH = '/apis/ccompat/v7';

export class LocalRegistryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalRegistryError';
  }
}

/**
 * Runs scripts/registry-fetch.mjs (a no-op when cached) and returns the runner jar. A first fetch shows its
 * progress on stderr. Throws a LocalRegistryError with the fetcher's one-line advice.
 */
export function ensureRegistryApp(): string {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'registry-fetch.mjs'), '--quiet'], {
    stdio: ['ignore', 2, 'pipe'],
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new LocalRegistryError((r.stderr || 'registry-fetch failed').trim());
  const app = registryApp();
  return join(
    process.env.APICURIO_CACHE_DIR ?? join(ROOT, '.cache', 'apicurio'),
    app.version,
    'app',
    `${app.artifactId}-${app.version}-runner.jar`,
  );
}

export interface LocalRegistryOptions {
  /** 0 or unset: a free port. */
  port?: number;
  heapMb?: number;
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface LocalRegistry {
  /** The Confluent-compatible API, e.g. http://127.0.0.1:41234/apis/ccompat/v7 (SCHEMA_REGISTRY_URL). */
  url: string;
  port: number;
  pid?: number;
  /** The registry's own log (in a temp dir removed by stop()). */
  logFile: string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

export async function startLocalRegistry(opts: LocalRegistryOptions = {}): Promise<LocalRegistry> {
  const log = opts.log ?? (() => {});
  const jar = ensureRegistryApp();
  const port = opts.port || (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'hub-registry-'));
  const logFile = join(dir, 'registry.log');
  const fd = openSync(logFile, 'a');
  const heap = opts.heapMb ?? 384;
  const child = spawn(
    'java',
    [
      `-Xmx${heap}m`,
      '-XX:+UseSerialGC',
      // C1 only: starts in ~2-4 s instead of ~8 s; the registry's work here is a few lookups.
      '-XX:TieredStopAtLevel=1',
      '-Djava.awt.headless=true',
      `-Dquarkus.http.port=${port}`,
      '-Dquarkus.http.host=127.0.0.1',
      `-Djava.io.tmpdir=${dir}`,
      '-jar',
      jar,
    ],
    { stdio: ['ignore', fd, fd], cwd: dir },
  );
  closeSync(fd);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
  running.add(child);
  if (child.pid !== undefined) guardAgainstOrphan(child.pid, 'registry-watchdog');
  let exited: { code: number | null; signal: string | null; error?: string } | undefined;
  const exitPromise = new Promise<void>((res) => {
    child.once('error', (err) => {
      exited = { code: null, signal: null, error: err.message };
      running.delete(child);
      res();
    });
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      res();
    });
  });
  const stopProcess = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exitPromise;
      clearTimeout(timer);
    }
  };
  const url = `http://127.0.0.1:${port}${CCOMPAT_PATH}`;
  const started = Date.now();
  const deadline = started + (opts.readyTimeoutMs ?? 60_000);
  let last = '';
  for (;;) {
    if (exited) {
      const tail = readTail(logFile);
      rmSync(dir, { recursive: true, force: true });
      throw new LocalRegistryError(
        exited.error?.includes('ENOENT')
          ? 'java not found: install Java 17+ (e.g. apt-get install openjdk-17-jdk-headless).'
          : `the schema registry exited during startup (${JSON.stringify(exited)}); last log lines:\n    ${tail}`,
      );
    }
    try {
      const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      const tail = readTail(logFile);
      await stopProcess();
      rmSync(dir, { recursive: true, force: true });
      throw new LocalRegistryError(
        `the schema registry on port ${port} was not ready within ${opts.readyTimeoutMs ?? 60_000} ms (last error: ${last}); last log lines:\n    ${tail}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  log(`Apicurio Registry ${registryApp().version} ready at ${url} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return {
    url,
    port,
    pid: child.pid,
    logFile,
    async stop() {
      await stopProcess();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readTail(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').slice(-5).join('\n    ') : '';
}
