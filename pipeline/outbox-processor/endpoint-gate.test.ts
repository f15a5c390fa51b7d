import { EndpointGate } from './endpoint-gate';

const never = () => new Promise<boolean>(() => {});

describe('EndpointGate', () => {
  it('queues beyond the limit while the endpoint keeps delivering (busy, not stalled)', async () => {
    let t = 0;
    const gate = new EndpointGate({ concurrency: 1, queueLimit: 2, stallMs: 1000, now: () => t });
    let release!: () => void;
    const first = gate.run(
      () => new Promise<boolean>((r) => (release = () => r(true))),
      (ok) => ok,
    );
    void gate.run(never, (ok) => ok);
    void gate.run(never, (ok) => ok);
    expect(gate.waiting).toBe(2);
    t = 500;
    expect(gate.shouldShed()).toBe(false); // within the grace of a new endpoint
    t = 900;
    await new Promise(setImmediate); // the first task has its slot and is running
    release();
    await first; // delivered at t=900
    t = 1800;
    expect(gate.waiting).toBe(1);
    void gate.run(never, (ok) => ok);
    expect(gate.waiting).toBe(2);
    expect(gate.shouldShed()).toBe(false); // last delivery 900 ms ago
  });

  it('sheds overflow once the endpoint has delivered nothing for the stall period', () => {
    let t = 0;
    const gate = new EndpointGate({ concurrency: 1, queueLimit: 2, stallMs: 1000, now: () => t });
    for (let i = 0; i < 3; i++) void gate.run(never, (ok) => ok);
    expect(gate.shouldShed()).toBe(false);
    t = 1001;
    expect(gate.shouldShed()).toBe(true);
  });

  it('does not count failed attempts as progress', async () => {
    let t = 0;
    const gate = new EndpointGate({ concurrency: 1, queueLimit: 0, stallMs: 100, now: () => t });
    t = 50;
    await gate.run(
      async () => false,
      (ok) => ok,
    );
    t = 200;
    void gate.run(never, (ok) => ok);
    expect(gate.shouldShed()).toBe(true);
  });
});
