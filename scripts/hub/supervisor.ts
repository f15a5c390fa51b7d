/**
 * One supervised child process: spawned from a service's real entry point, its stdout/stderr split into lines
 * for the launcher's log sink, the last lines kept for error reports, stopped with SIGTERM then SIGKILL after
 * a deadline. An exit nobody asked for is a crash; `exited` tells which it was.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { lineSplitter } from './log-format';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the exit followed `stop()` or `kill()` from the launcher. */
  expected: boolean;
}

export interface ChildOptions {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string | undefined>;
  cwd: string;
  onLine(line: string, stream: 'stdout' | 'stderr'): void;
  /** Lines kept for error reports. */
  tail?: number;
}

export class ManagedChild {
  readonly name: string;
  readonly exited: Promise<ExitInfo>;
  private readonly child: ChildProcess;
  private readonly recent: string[] = [];
  private expected = false;
  private exitInfo: ExitInfo | undefined;

  constructor(opts: ChildOptions) {
    this.name = opts.name;
    const keep = opts.tail ?? 30;
    this.child = spawn(opts.command, opts.args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const onLine = (stream: 'stdout' | 'stderr') => (line: string) => {
      this.recent.push(line);
      if (this.recent.length > keep) this.recent.shift();
      opts.onLine(line, stream);
    };
    const out = lineSplitter(onLine('stdout'));
    const err = lineSplitter(onLine('stderr'));
    this.child.stdout!.on('data', (c: Buffer) => out.push(c));
    this.child.stderr!.on('data', (c: Buffer) => err.push(c));
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.exitInfo) return;
        out.end();
        err.end();
        this.exitInfo = { code, signal, expected: this.expected };
        resolve(this.exitInfo);
      };
      // 'close' fires after the stdio streams ended, so every line has been seen.
      this.child.once('close', done);
      this.child.once('error', (e) => {
        this.recent.push(`failed to start: ${e.message}`);
        done(null, null);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** The last lines the child wrote (for "why did it fail" messages). */
  lastLines(): string[] {
    return [...this.recent];
  }

  /** Sends a signal the launcher means (not treated as a crash). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.running) return;
    this.expected = true;
    this.child.kill(signal);
  }

  /** SIGTERM, wait up to `deadlineMs` for the service to drain and exit, then SIGKILL. */
  async stop(deadlineMs: number): Promise<ExitInfo & { forced: boolean }> {
    if (!this.running) return { ...this.exitInfo!, forced: false };
    this.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), deadlineMs);
    });
    const first = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (first !== 'timeout') return { ...first, forced: false };
    this.child.kill('SIGKILL');
    return { ...(await this.exited), forced: true };
  }

  /** Synchronous last resort when the launcher itself is exiting. */
  killNow(): void {
    if (this.running) {
      this.expected = true;
      try {
        this.child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

export function describeExit(e: { code: number | null; signal: NodeJS.Signals | null }): string {
  if (e.signal) return `killed by ${e.signal}`;
  if (e.code === null) return 'could not be started';
  return `exited with code ${e.code}`;
}
