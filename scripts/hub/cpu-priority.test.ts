import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { lowerCpuPriority } from './cpu-priority';

/** The nice value of each thread of `pid`, from /proc/<pid>/task/<tid>/stat (field 19). */
function threadNices(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start past the last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

const linux = process.platform === 'linux';

describe('lowerCpuPriority', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
  });

  const startChild = async (): Promise<number> => {
    // A Node process has several threads (V8 platform workers, libuv): all of them must be lowered.
    child = spawn(process.execPath, ['-e', 'process.stdout.write("up\\n"); setInterval(() => {}, 1000)'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => child!.stdout!.once('data', () => resolve()));
    return child.pid!;
  };

  (linux ? it : it.skip)('sets every thread of the process (reason to skip: /proc is Linux only)', async () => {
    const pid = await startChild();
    const before = threadNices(pid);
    expect(before.length).toBeGreaterThan(1);
    expect(before.every((n) => n === 7)).toBe(false);
    const r = lowerCpuPriority(7, pid);
    expect(r.errors).toEqual([]);
    expect(r.set).toBe(before.length);
    expect(threadNices(pid).every((n) => n === 7)).toBe(true);
  });

  it('leaves the priority alone at 0', async () => {
    const r = lowerCpuPriority(0, process.pid);
    expect(r).toEqual({ nice: 0, set: 0, errors: [] });
  });

  it('does not throw for a process that is gone (nothing set, nothing to report)', () => {
    // pid 2^22+1 is above Linux's largest pid_max: no such process (ESRCH, as for a thread that just ended).
    expect(lowerCpuPriority(5, 4_194_305)).toEqual({ nice: 5, set: 0, errors: [] });
  });
});
