import { header, headersToStrings, headerValues, stringHeaders } from './headers';

describe('kafka headers', () => {
  const headers = {
    buf: Buffer.from('from-buffer'),
    str: 'from-string',
    many: [Buffer.from('first'), 'second'],
    none: undefined,
    utf8: Buffer.from('tenant-ä'),
  };

  it('reads Buffer, string and repeated values as UTF-8 strings', () => {
    expect(header(headers, 'buf')).toBe('from-buffer');
    expect(header(headers, 'str')).toBe('from-string');
    expect(header(headers, 'many')).toBe('first');
    expect(header(headers, 'utf8')).toBe('tenant-ä');
    expect(header(headers, 'none')).toBeUndefined();
    expect(header(headers, 'missing')).toBeUndefined();
    expect(header(undefined, 'buf')).toBeUndefined();
  });

  it('returns every value of a repeated header', () => {
    expect(headerValues(headers, 'many')).toEqual(['first', 'second']);
    expect(headerValues(headers, 'str')).toEqual(['from-string']);
    expect(headerValues(headers, 'missing')).toEqual([]);
  });

  it('flattens all headers and drops absent values', () => {
    expect(headersToStrings(headers)).toEqual({
      buf: 'from-buffer',
      str: 'from-string',
      many: 'first',
      utf8: 'tenant-ä',
    });
    expect(stringHeaders({ a: '1', b: undefined })).toEqual({ a: '1' });
  });
});
