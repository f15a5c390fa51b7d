/**
 * How the hub changes kafkajs 2.2.4's internals (kafkajs-idle-fix.ts, kafkajs-coordinator-cache.ts,
 * kafkajs-rejoin-hold.ts, kafkajs-encoder-alloc.ts): replace one method of the class an internal module exports, once
 * per process, and only when the method is there in the form the patch was written for. A kafkajs that moved or
 * changed it is left alone (the patch reports false and the hub runs on kafkajs's own behaviour). A function that
 * kafkajs binds when a module loads (the checksum, the record encoder and decoder) is replaced in Node's module cache
 * instead, under the same rules (`replaceKafkajsModule`: kafkajs-crc32c.ts, kafkajs-record-encoder.ts,
 * kafkajs-record-decoder.ts).
 */
// biome-ignore lint/suspicious/noExplicitAny: kafkajs's internal methods have no types.
export type KafkajsMethod = (this: any, ...args: any[]) => any;

const PATCHED = Symbol.for('integration-hub.kafkajs-patch');

export function patchKafkajsMethod(
  modulePath: string,
  method: string,
  replace: (original: KafkajsMethod) => KafkajsMethod,
  /** The known form of the original (its source, say); default: any function. */
  accepts: (original: KafkajsMethod) => boolean = () => true,
  /** A static method of the exported class instead of a method of its prototype. */
  where: 'prototype' | 'static' = 'prototype',
): boolean {
  // biome-ignore lint/suspicious/noExplicitAny: an internal module of kafkajs.
  let exported: any;
  try {
    exported = require(modulePath);
  } catch {
    return false;
  }
  const proto = where === 'static' ? exported : exported?.prototype;
  const original = proto?.[method];
  if (typeof original !== 'function') return false;
  if ((original as { [PATCHED]?: string })[PATCHED] === `${modulePath}#${method}`) return true;
  if (!accepts(original)) return false;
  const patched = replace(original);
  (patched as { [PATCHED]?: string })[PATCHED] = `${modulePath}#${method}`;
  proto[method] = patched;
  return true;
}

const REPLACED = Symbol.for('integration-hub.kafkajs-module');

/**
 * Replaces what the internal module `modulePath` exports, in Node's module cache, before the module that binds it
 * when it loads (`boundBy`) has loaded: true once replaced (again: true), false when kafkajs is left alone (either
 * module missing, `boundBy` loaded already, or the export not in the form `accepts` knows).
 */
export function replaceKafkajsModule<T extends object>(
  modulePath: string,
  boundBy: string,
  replace: (original: T) => T,
  accepts: (original: T) => boolean,
): boolean {
  let path: string;
  let boundPath: string;
  try {
    path = require.resolve(modulePath);
    boundPath = require.resolve(boundBy);
  } catch {
    return false;
  }
  require(path);
  const mod = require.cache[path];
  if (!mod) return false;
  if ((mod.exports as { [REPLACED]?: string })[REPLACED] === modulePath) return true;
  // The binding module took the original already: changing the export now would change nothing.
  if (require.cache[boundPath]) return false;
  const original = mod.exports as T;
  if (typeof original !== 'function' || !accepts(original)) return false;
  const replacement = replace(original);
  (replacement as { [REPLACED]?: string })[REPLACED] = modulePath;
  mod.exports = replacement;
  return true;
}
