/**
 * Reading back what the launcher's cpu-priority.ts set (Linux): each thread's nice value and scheduling policy.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The scheduling policy Linux reports for SCHED_IDLE (`/proc/<pid>/task/<tid>/stat`, field 41). */
export const SCHED_IDLE = 5;

/**
 * Linux: the nice value and scheduling policy (0 normal, SCHED_IDLE 5) of each thread of `pid`, read from /proc (a
 * thread that ends meanwhile is left out).
 */
export function threadPriorities(pid: number): { nice: number; policy: number }[] {
  const out: { nice: number; policy: number }[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command name (which may hold spaces) start past the last ')', at field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.push({ nice: Number(fields[19 - 3]), policy: Number(fields[41 - 3]) });
  }
  return out;
}
