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
 */
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

export interface CpuPriorityResult {
  /** The nice value asked for. */
  nice: number;
  /** Threads (Linux) or processes set. */
  set: number;
  /** Why some or all could not be set (a thread that ended meanwhile is not an error). */
  errors: string[];
}

/** Sets the nice value of every thread of `pid` (default: this process) to `nice` (0-19); 0 leaves it as it is. */
export function lowerCpuPriority(nice: number, pid: number = process.pid): CpuPriorityResult {
  const result: CpuPriorityResult = { nice, set: 0, errors: [] };
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
