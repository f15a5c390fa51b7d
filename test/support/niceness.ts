import type { ServiceName } from '../../scripts/hub/services';

/**
 * The CPU priority of the services in the suites that start a real hub (e2e, reliability, security). The launcher's
 * default puts the dlt-processor at nice 19 under SCHED_IDLE, for a hub that shares its host only with itself
 * (BENCHMARKS.md, 2026-12-02); in CI the other suites' processes keep both cores busy, and so the dlt-processor would
 * wait on them rather than on the hub. The suites' deadlines were set with it at 10 and the normal policy, the
 * launcher's earlier default (a niceness given to the launcher replaces both).
 */
export const TEST_NICENESS: Partial<Record<ServiceName, number>> = { 'dlt-processor': 10 };
