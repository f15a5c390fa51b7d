/** Waits until a service answers 200 on /readyz, or fails fast when it exits first. */
import { request } from 'undici';
import { describeExit, type ExitInfo } from './supervisor';

export class NotReadyError extends Error {
  constructor(
    message: string,
    readonly lastLines: string[] = [],
  ) {
    super(message);
    this.name = 'NotReadyError';
  }
}

export interface WaitReadyOptions {
  name: string;
  url: string;
  timeoutMs: number;
  exited: Promise<ExitInfo>;
  lastLines(): string[];
  intervalMs?: number;
}

export async function waitForReady(opts: WaitReadyOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let exit: ExitInfo | undefined;
  void opts.exited.then((e) => {
    exit = e;
  });
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (exit) {
      throw new NotReadyError(`${opts.name} ${describeExit(exit)} before it was ready`, opts.lastLines());
    }
    try {
      const res = await request(`${opts.url}/readyz`, { headersTimeout: 2000, bodyTimeout: 2000 });
      const body = await res.body.text();
      if (res.statusCode === 200) return;
      last = `/readyz answered ${res.statusCode} ${body.slice(0, 300)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
  if (exit) throw new NotReadyError(`${opts.name} ${describeExit(exit)} before it was ready`, opts.lastLines());
  throw new NotReadyError(
    `${opts.name} was not ready within ${Math.round(opts.timeoutMs / 1000)} s (${last})`,
    opts.lastLines(),
  );
}
