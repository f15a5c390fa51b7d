import { groupByBytes, producedRecordBytes } from './group-by-bytes';

const length = (s: string) => s.length;
const sizes = (groups: string[][]) => groups.map((g) => g.map(length));
const item = (n: number, c = 'x') => c.repeat(n);

describe('groupByBytes', () => {
  it('gives no groups for no items', () => {
    expect(groupByBytes([], length, 100)).toEqual([]);
  });

  it('keeps every item exactly once, in order, each group within the limit', () => {
    const items = Array.from({ length: 500 }, (_, i) => item(1 + ((i * 37) % 90), String.fromCharCode(97 + (i % 26))));
    const groups = groupByBytes(items, length, 100);
    expect(groups.flat()).toEqual(items);
    for (const g of groups) expect(g.reduce((n, s) => n + s.length, 0)).toBeLessThanOrEqual(100);
    // Greedy: a group closes only when the next item would not fit.
    for (let i = 1; i < groups.length; i++)
      expect(groups[i - 1]!.reduce((n, s) => n + s.length, 0) + groups[i]![0]!.length).toBeGreaterThan(100);
  });

  it('puts an item larger than the limit in a group of its own, wherever it stands', () => {
    expect(sizes(groupByBytes([item(150)], length, 100))).toEqual([[150]]);
    expect(sizes(groupByBytes([item(10), item(20), item(150)], length, 100))).toEqual([[10, 20], [150]]);
    expect(sizes(groupByBytes([item(10), item(150), item(10)], length, 100))).toEqual([[10], [150], [10]]);
    expect(sizes(groupByBytes([item(150), item(101), item(10), item(10)], length, 100))).toEqual([
      [150],
      [101],
      [10, 10],
    ]);
  });

  it('fills a group up to exactly the limit, and one byte more starts the next group', () => {
    expect(sizes(groupByBytes([item(60), item(40), item(1)], length, 100))).toEqual([[60, 40], [1]]);
    expect(sizes(groupByBytes([item(60), item(41)], length, 100))).toEqual([[60], [41]]);
    expect(sizes(groupByBytes([item(100), item(100)], length, 100))).toEqual([[100], [100]]);
  });

  it("measures each item with the caller's size function", () => {
    // e.g. a bundle entry costs its bytes and a comma
    expect(sizes(groupByBytes([item(49), item(49), item(49)], (s) => s.length + 1, 100))).toEqual([[49, 49], [49]]);
    expect(sizes(groupByBytes([item(50), item(50)], (s) => s.length + 1, 100))).toEqual([[50], [50]]);
  });

  it('counts zero-sized items without closing a group', () => {
    expect(sizes(groupByBytes([item(100), '', '', item(1)], length, 100))).toEqual([[100, 0, 0], [1]]);
  });
});

describe('producedRecordBytes', () => {
  it("counts a record's value, key and headers in UTF-8 bytes, and its framing", () => {
    expect(producedRecordBytes({ value: 'abc' })).toBe(3 + 64);
    expect(producedRecordBytes({ key: 'tenant-é', value: Buffer.alloc(10) })).toBe(10 + 9 + 64);
    expect(producedRecordBytes({ key: null, value: 'ü', headers: { 'content-type': 'x', id: '€' } })).toBe(
      2 + 64 + 12 + 1 + 2 + 3,
    );
  });
});
