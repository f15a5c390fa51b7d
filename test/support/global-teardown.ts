export default async function globalTeardown(): Promise<void> {
  const infra = (globalThis as { __HUB_INFRA__?: { stop(): Promise<void> }[] }).__HUB_INFRA__ ?? [];
  await Promise.all(infra.map((i) => i.stop()));
}
