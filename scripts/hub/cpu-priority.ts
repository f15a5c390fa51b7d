/**
 * The launcher's background priority (services.ts `niceness`): the dlt-processor's work can wait (the ledger writer,
 * DLT persistence, scheduled retries, the operator API), so on a host shared by all four services the kernel gives
 * the delivery path (event-processor, outbox-processor) the CPU first whenever both want it, and the background work
 * the cycles they leave. When the host has room nothing changes. It is the bargain of Postgres's autovacuum cost
 * delay: record-keeping catches up after a burst instead of slowing it (BENCHMARKS.md: the ledger's lag after a
 * saturation run stays a few seconds).
 *
 * Linux keeps a nice value per thread (NPTL): every thread the process has is set (`/proc/<pid>/task`), and threads
 * made later inherit it from the thread that makes them. Elsewhere `os.setPriority(pid)` sets the process. Lowering
 * a priority needs no privilege; what is refused is returned (the service then runs at normal priority).
 *
 * **SCHED_IDLE** (`idle`, Linux): nice 19 alone is not enough on the kernels' EEVDF scheduler (Linux 6.6 and later):
 * a task woken while a nice-19 task runs does not take the CPU at once but waits, up to a time slice, for it. The
 * delivery path is a chain of short wake-ups (a fetch answered, a transaction committed, an HTTP response), and
 * each could wait behind the background work. A SCHED_IDLE task is preempted as soon as any normal task wakes (the
 * kernel's wake-up rule for the idle policy) and otherwise runs as nice 19 would. Measured (BENCHMARKS.md,
 * 2026-12-02, 05:27): with the dlt-processor at nice 19 the hub delivered 0.60-0.81x its ledger-off rate (mean of
 * the runs, six benches), under SCHED_IDLE 0.84-0.88x (four), and the outbox-processor's CPU per delivery with the
 * ledger on rose by 15% over the ledger-off runs instead of 26%. Set with util-linux's
 * `chrt` (Node has no sched_setscheduler); without it the nice value stays and the reason is returned. Threads
 * made later inherit the policy too.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

export interface CpuPriorityResult {
  /** The nice value asked for. */
  nice: number;
  /** Threads (Linux) or processes set. */
  set: number;
  /** Why some or all could not be set (a thread that ended meanwhile is not an error). */
  errors: string[];
  /** Every thread was put under SCHED_IDLE (asked with `idle`). */
  idle?: boolean;
}

/**
 * Sets the nice value of every thread of `pid` (default: this process) to `nice` (0-19); 0 leaves it as it is. With
 * `idle` (Linux only) every thread is also put under SCHED_IDLE (see the top).
 */
export function lowerCpuPriority(
  nice: number,
  pid: number = process.pid,
  opts: { idle?: boolean } = {},
): CpuPriorityResult {
  const result: CpuPriorityResult = { nice, set: 0, errors: [] };
  if (opts.idle && process.platform === 'linux') {
    try {
      // Every thread the process has (--all-tasks); a thread made later inherits the policy.
      execFileSync('chrt', ['--idle', '--all-tasks', '--pid', '0', String(pid)], { stdio: 'pipe', timeout: 5000 });
      result.idle = true;
    } catch (err) {
      const e = err as { code?: string; stderr?: Buffer; message: string };
      result.errors.push(
        `SCHED_IDLE not set: ${e.code === 'ENOENT' ? 'chrt (util-linux) not found' : e.stderr?.toString().trim() || e.message}`,
      );
    }
  }
  if (nice <= 0) return result;
  let tasks: number[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    tasks = [pid]; // no /proc (macOS): the process as a whole
  }
  for (const tid of tasks) {
    try {
      setPriority(tid, nice);
      result.set++;
    } catch (err) {
      const code = (err as { code?: string; info?: { code?: string } }).info?.code ?? (err as { code?: string }).code;
      if (code !== 'ESRCH') result.errors.push(`${tid}: ${(err as Error).message}`);
    }
  }
  return result;
}
