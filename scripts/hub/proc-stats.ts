/** A process's memory and CPU time from /proc (Linux); zeros where /proc is not there or the process is gone. */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcStats {
  /** Peak resident set (VmHWM), MB. */
  peakMb: number;
  /** Current resident set (VmRSS), MB. */
  rssMb: number;
  /** User + system CPU time, seconds. */
  cpuSec: number;
}

export function procStats(pid: number | undefined): ProcStats {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const ticks = Number(stat[11]) + Number(stat[12]);
    return { peakMb: Math.round(kb('VmHWM')), rssMb: Math.round(kb('VmRSS')), cpuSec: Math.round(ticks) / 100 };
  } catch {
    return { peakMb: 0, rssMb: 0, cpuSec: 0 };
  }
}

/** CPU seconds of each process whose command name is `comm` (e.g. `postgres`, `java`), by pid; empty without /proc. */
export function cpuOfCommand(comm: string): Map<number, number> {
  const out = new Map<number, number>();
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const name = raw.slice(raw.indexOf('(') + 1, raw.lastIndexOf(')'));
      if (name !== comm) continue;
      const stat = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
      out.set(Number(pid), (Number(stat[11]) + Number(stat[12])) / 100);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU seconds the processes of `after` spent since `before` (a process that ended meanwhile is not counted). */
export function cpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, cpu] of after) sum += cpu - (before.get(pid) ?? 0);
  return Math.round(sum * 100) / 100;
}
