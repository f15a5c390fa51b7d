export default async function globalTeardown(): Promise<void> {
  const kafka = (globalThis as { __HUB_KAFKA__?: { stop(): Promise<void> } }).__HUB_KAFKA__;
  await kafka?.stop();
}
