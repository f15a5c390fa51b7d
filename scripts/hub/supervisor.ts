/**
 * Process supervision for the launcher.
 *
 * `ManagedChild` is one child process: spawned from a service's real entry point, its stdout/stderr split into
 * lines for the launcher's log sink, the last lines kept for error reports, stopped with SIGTERM then SIGKILL
 * after a deadline. An exit nobody asked for is a crash; `exited` tells which it was.
 *
 * `Restarter` keeps one service running across crashes, like docker compose `restart: unless-stopped` or a
 * Kubernetes Deployment:
 *
 *   crash  ->  RestartPolicy: too many within the window?  -- yes -->  give up (the launcher stops the hub)
 *                 | no
 *                 v
 *   wait the backoff (0.5 s, 1 s, 2 s ... 10 s)  ->  start a fresh child  ->  wait for /readyz  ->  watch it
 *
 * An exit the launcher asked for (`stop()`, `kill()`) is never restarted, and `halt()` (the hub stopping) cancels
 * a pending backoff.
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

export interface RestartPolicy {
  /** Restarts allowed within `windowMs`; the next crash in the window gives up. 0 = never restart. */
  maxRestarts: number;
  windowMs: number;
  /** Delay before the first restart; it doubles with each crash in a row, up to `maxDelayMs`. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A child that ran this long before it crashed starts the backoff over at `initialDelayMs`. */
  resetAfterMs: number;
}

/**
 * 5 restarts a minute: enough to ride out a broker or database blip (the services exit when they cannot reach
 * them for long), few enough that a service failing on every start stops the hub with its log lines instead of
 * flapping forever. The backoff resets after 10 s up, as docker's restart policy does.
 */
export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  maxRestarts: 5,
  windowMs: 60_000,
  initialDelayMs: 500,
  maxDelayMs: 10_000,
  resetAfterMs: 10_000,
};

export type RestartDecision =
  | { restart: true /** Crashes in a row (1 = first since the last reset). */; attempt: number; delayMs: number }
  | { restart: false /** Crashes within the window, this one included. */; crashes: number };

/** The restart policy's bookkeeping for one service, on explicit times (so it is tested without a clock). */
export class RestartBackoff {
  private readonly policy: RestartPolicy;
  /** When the restarts within the current window were decided. */
  private recent: number[] = [];
  private streak = 0;

  constructor(policy: Partial<RestartPolicy> = {}) {
    this.policy = { ...DEFAULT_RESTART_POLICY, ...policy };
  }

  /** A crash at `now` of a child that had been up `upMs`: restart after a delay, or give up. */
  crashed(now: number, upMs: number): RestartDecision {
    const p = this.policy;
    this.recent = this.recent.filter((t) => now - t < p.windowMs);
    if (this.recent.length >= p.maxRestarts) return { restart: false, crashes: this.recent.length + 1 };
    this.recent.push(now);
    if (upMs >= p.resetAfterMs) this.streak = 0;
    this.streak += 1;
    const delayMs = Math.min(p.maxDelayMs, p.initialDelayMs * 2 ** (this.streak - 1));
    return { restart: true, attempt: this.streak, delayMs };
  }
}

export interface RestartEvent {
  name: string;
  /** Why the child went: `killed by SIGKILL`, `exited with code 1`, `did not become ready (...)`. */
  why: string;
  attempt: number;
  delayMs: number;
  /** Restarts of this service so far, this one included. */
  restarts: number;
}

export interface GiveUpEvent {
  name: string;
  why: string;
  exit: ExitInfo;
  lastLines: string[];
  /** Crashes within the window, the last one included. */
  crashes: number;
  restarts: number;
}

export interface RestarterOptions {
  name: string;
  policy?: Partial<RestartPolicy>;
  /** Starts a fresh child (same port and environment as the one that crashed). */
  start(): ManagedChild;
  /** Resolves once a fresh child serves; rejects when it exits or times out first. */
  ready(child: ManagedChild): Promise<void>;
  /** A restart was decided (before the delay). */
  onRestart(e: RestartEvent): void;
  /** A fresh child was started: from now on it is the one to stop. */
  onStart?(child: ManagedChild): void;
  /** The fresh child is ready. */
  onReady?(child: ManagedChild, restarts: number): void;
  /** Too many crashes: nothing more is restarted until `watch()` is called again. */
  onGiveUp(e: GiveUpEvent): void;
}

export class Restarter {
  readonly name: string;
  private readonly opts: RestarterOptions;
  private readonly backoff: RestartBackoff;
  private current: ManagedChild | undefined;
  private startedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private halted = false;
  private count = 0;

  constructor(opts: RestarterOptions) {
    this.name = opts.name;
    this.opts = opts;
    this.backoff = new RestartBackoff(opts.policy);
  }

  /** Restarts so far (each fresh child started after a crash). */
  get restarts(): number {
    return this.count;
  }

  /** The child being supervised (after a crash: the dead one until the backoff is over). */
  get child(): ManagedChild | undefined {
    return this.current;
  }

  /** True while a restart waits out its backoff. */
  get pending(): boolean {
    return this.timer !== undefined;
  }

  /**
   * Supervises `child` from now on: a crash restarts it. The launcher calls this once a child is ready, so a
   * child that fails its first start is reported by the readiness wait instead. Re-arms after `halt()` and a
   * give-up (a caller's own restart), and drops a pending restart: `child` replaces it.
   */
  watch(child: ManagedChild): void {
    this.cancel();
    this.halted = false;
    this.adopt(child);
  }

  /** No more restarts (the hub is stopping, or the instance is removed); cancels a pending one. */
  halt(): void {
    this.halted = true;
    this.cancel();
  }

  private cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private crashed(child: ManagedChild, exit: ExitInfo, why: string): void {
    const now = Date.now();
    const d = this.backoff.crashed(now, now - this.startedAt);
    if (!d.restart) {
      this.halted = true;
      this.opts.onGiveUp({
        name: this.name,
        why,
        exit,
        lastLines: child.lastLines(),
        crashes: d.crashes,
        restarts: this.count,
      });
      return;
    }
    this.opts.onRestart({ name: this.name, why, attempt: d.attempt, delayMs: d.delayMs, restarts: this.count + 1 });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.halted) void this.relaunch();
    }, d.delayMs);
  }

  private adopt(child: ManagedChild): void {
    this.current = child;
    this.startedAt = Date.now();
    void child.exited.then((exit) => {
      if (exit.expected || this.halted || child !== this.current) return;
      this.crashed(child, exit, describeExit(exit));
    });
  }

  private async relaunch(): Promise<void> {
    const child = this.opts.start();
    this.count += 1;
    // Watched from its start: an exit before it is ready is one more crash (with the next, longer delay).
    this.adopt(child);
    this.opts.onStart?.(child);
    try {
      await this.opts.ready(child);
    } catch (err) {
      if (this.halted || child !== this.current || !child.running) return;
      // Alive but not serving within the readiness timeout: as good as crashed.
      child.killNow();
      const exit = await child.exited;
      if (this.halted || child !== this.current) return;
      this.crashed(child, { ...exit, expected: false }, `did not become ready (${(err as Error).message})`);
      return;
    }
    if (!this.halted && child === this.current) this.opts.onReady?.(child, this.count);
  }
}
