import { cachedOpener, generateHubKeySpec, parseHubKeys, SecretBox, SecretBoxError } from './secret-box';

describe('SecretBox', () => {
  const box = new SecretBox(parseHubKeys(generateHubKeySpec('k1')));

  it('opens what it sealed only with the same aad', () => {
    const sealed = box.seal('s3cret', 'sub-1');
    expect(sealed).not.toContain('s3cret');
    expect(box.open(sealed, 'sub-1')).toBe('s3cret');
    expect(() => box.open(sealed, 'sub-2')).toThrow(SecretBoxError);
  });

  it('cachedOpener opens each (sealed, aad) once and never caches a failure', () => {
    const open = jest.spyOn(box, 'open');
    const cached = cachedOpener(box, 2);
    const a = box.seal('a', 'sub-1');
    const b = box.seal('b', 'sub-1');
    open.mockClear();
    expect([cached(a, 'sub-1'), cached(a, 'sub-1'), cached(b, 'sub-1')]).toEqual(['a', 'a', 'b']);
    expect(open).toHaveBeenCalledTimes(2);
    // The same sealed value under another aad is another entry, and it fails authentication every time.
    expect(() => cached(a, 'sub-2')).toThrow(SecretBoxError);
    expect(() => cached(a, 'sub-2')).toThrow(SecretBoxError);
    expect(open).toHaveBeenCalledTimes(4);
    // Full (max 2): it starts afresh, and still answers correctly.
    expect(cached(box.seal('c', 'sub-3'), 'sub-3')).toBe('c');
    expect(cached(a, 'sub-1')).toBe('a');
    open.mockRestore();
  });
});
