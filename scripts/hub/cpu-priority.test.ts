import { type ChildProcess, spawn } from 'node:child_process';
import { SCHED_IDLE, threadPriorities } from '../../test/support/thread-priorities';
import { lowerCpuPriority } from './cpu-priority';

const threadNices = (pid: number) => threadPriorities(pid).map((t) => t.nice);

const linux = process.platform === 'linux';

describe('lowerCpuPriority', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
  });

  const CHILD = `
    const { Worker } = require('node:worker_threads');
    process.stdout.write('up\\n');
    process.stdin.on('data', () => {
      const w = new Worker('setInterval(() => {}, 1000)', { eval: true });
      w.on('online', () => process.stdout.write('worker\\n'));
    });
    setInterval(() => {}, 1000);`;
  const line = (expected: string) =>
    new Promise<void>((resolve) =>
      child!.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes(expected)) resolve();
      }),
    );

  const startChild = async (): Promise<number> => {
    // A Node process has several threads (V8 platform workers, libuv): all of them must be lowered.
    child = spawn(process.execPath, ['-e', CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
    await line('up');
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

  (linux ? it : it.skip)(
    'puts every thread under SCHED_IDLE as well, keeping the nice value (reason to skip: a Linux policy)',
    async () => {
      const pid = await startChild();
      expect(threadPriorities(pid).some((t) => t.policy === SCHED_IDLE)).toBe(false);
      const r = lowerCpuPriority(19, pid, { idle: true });
      expect(r.errors).toEqual([]);
      expect(r.idle).toBe(true);
      const after = threadPriorities(pid);
      expect(after.length).toBeGreaterThan(1);
      expect(after.every((t) => t.policy === SCHED_IDLE && t.nice === 19)).toBe(true);
      // A thread made later inherits it: a worker thread (and the threads it brings) started now.
      const worker = line('worker');
      child!.stdin!.write('go\n');
      await worker;
      const later = threadPriorities(pid);
      expect(later.length).toBeGreaterThan(after.length);
      expect(later.filter((t) => t.policy !== SCHED_IDLE || t.nice !== 19)).toEqual([]);
    },
  );

  it('leaves the priority alone at 0', async () => {
    const r = lowerCpuPriority(0, process.pid);
    expect(r).toEqual({ nice: 0, set: 0, errors: [] });
  });

  it('does not throw for a process that is gone (nothing set, nothing to report)', () => {
    // pid 2^22+1 is above Linux's largest pid_max: no such process (ESRCH, as for a thread that just ended).
    expect(lowerCpuPriority(5, 4_194_305)).toEqual({ nice: 5, set: 0, errors: [] });
  });
});
