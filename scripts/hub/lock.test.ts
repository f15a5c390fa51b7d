import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlreadyRunningError, acquireLock } from './lock';

const dir = () => mkdtempSync(join(tmpdir(), 'hub-lock-'));

describe('acquireLock', () => {
  it('writes the pid and removes the file on release', () => {
    const d = dir();
    const lock = acquireLock(d, 4242);
    expect(readFileSync(join(d, 'hub.pid'), 'utf8').trim()).toBe('4242');
    lock.release();
    expect(existsSync(join(d, 'hub.pid'))).toBe(false);
  });

  it('refuses a second start while the first launcher is alive, naming its pid', () => {
    const d = dir();
    // process.ppid is a live process other than us.
    writeFileSync(join(d, 'hub.pid'), `${process.ppid}\n`);
    expect(() => acquireLock(d)).toThrow(AlreadyRunningError);
    expect(() => acquireLock(d)).toThrow(`pid ${process.ppid}`);
  });

  it('takes over a lock left by a launcher that is gone', () => {
    const d = dir();
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    writeFileSync(join(d, 'hub.pid'), `${gone}\n`);
    const lock = acquireLock(d);
    expect(readFileSync(join(d, 'hub.pid'), 'utf8').trim()).toBe(String(process.pid));
    lock.release();
  });
});
