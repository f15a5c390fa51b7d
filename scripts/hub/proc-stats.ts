/** A process's memory and CPU time from /proc (Linux); zeros where /proc is not there or the process is gone. */
import { readFileSync } from 'node:fs';

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
