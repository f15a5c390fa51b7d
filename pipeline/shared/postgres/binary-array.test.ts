import { int4Array, textArray } from './binary-array';

// The bytes Postgres's own array_send gives for the same arrays (`SELECT encode(array_send(ARRAY['a',NULL,'é']::text[]),
// 'hex')` on PostgreSQL 15): what array_recv takes back.
describe('binary arrays', () => {
  it("encodes text[] as Postgres's array_send does: NULLs, multi-byte UTF-8", () => {
    expect(textArray(['a', null, 'é']).toString('hex')).toBe(
      '00000001000000010000001900000003000000010000000161ffffffff00000002c3a9',
    );
  });

  it('encodes int4[] as array_send does, negative numbers and NULLs included', () => {
    expect(int4Array([1, undefined, -2]).toString('hex')).toBe(
      '00000001000000010000001700000003000000010000000400000001ffffffff00000004fffffffe',
    );
  });

  it('encodes an empty array with no dimensions', () => {
    expect(textArray([]).toString('hex')).toBe('000000000000000000000019');
  });

  it('refuses a number that is not an int4', () => {
    expect(() => int4Array([2 ** 31])).toThrow(RangeError);
    expect(() => int4Array([1.5])).toThrow('not an int4: 1.5');
  });
});
