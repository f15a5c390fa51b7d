/**
 * One hub per data directory: `<dataDir>/hub.pid` holds the running launcher's pid. A second start reports the
 * running one; a lock left by a launcher that died (pid no longer alive) is taken over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export class AlreadyRunningError extends Error {
  constructor(
    readonly pid: number,
    readonly lockFile: string,
  ) {
    super(
      `the hub is already running (pid ${pid}, lock ${lockFile}); stop it with Ctrl-C or \`kill ${pid}\` first, or use another data directory (HUB_DATA_DIR)`,
    );
    this.name = 'AlreadyRunningError';
  }
}

export interface HubLock {
  file: string;
  release(): void;
}

export function acquireLock(dataDir: string, pid = process.pid): HubLock {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'hub.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      writeSync(fd, `${pid}\n`);
      closeSync(fd);
      let released = false;
      return {
        file,
        release() {
          if (released) return;
          released = true;
          try {
            if (readFileSync(file, 'utf8').trim() === String(pid)) rmSync(file, { force: true });
          } catch {
            // already gone
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
      if (Number.isInteger(holder) && holder > 0 && (holder === pid || isAlive(holder))) {
        throw new AlreadyRunningError(holder, file);
      }
      // Stale lock from a launcher that is gone: take it over.
      rmSync(file, { force: true });
    }
  }
  throw new Error(`could not take the hub lock ${file}`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
