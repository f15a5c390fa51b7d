import { messageAt, readMessageIndexes, readProtobufFraming, writeMessageIndexes } from './protobuf-message-index';
import { messagesOfProtoFile, schemaUri } from './schema-decoder.confluent';

/** magic byte + schema id 7, then the given bytes. */
const framed = (...bytes: number[]) => Buffer.from([0, 0, 0, 0, 7, ...bytes]);

describe('Protobuf message indexes (Confluent wire format)', () => {
  it('reads the single 0 byte as the first message', () => {
    expect(readMessageIndexes(framed(0, 0x0a, 0x01, 0x41))).toEqual({ ok: true, indexes: [0], payloadOffset: 6 });
  });

  it('reads zig-zag varints: count 2, indexes 1 and 0 (what Java MessageIndexes writes for [1, 0])', () => {
    expect(readMessageIndexes(framed(4, 2, 0, 0x0a))).toEqual({ ok: true, indexes: [1, 0], payloadOffset: 8 });
  });

  it('reads a multi-byte varint index (message 300)', () => {
    // zig-zag(300) = 600 = 0xd8 0x04
    expect(readMessageIndexes(framed(2, 0xd8, 0x04))).toEqual({ ok: true, indexes: [300], payloadOffset: 8 });
  });

  it.each([
    ['no bytes after the schema id', framed(), /cut short/],
    ['a count with no indexes after it', framed(4, 2), /cut short/],
    ['a negative count', framed(3), /count is -2/],
    ['a count past any real nesting', framed(0x80, 0x01), /count is 64/],
    ['a negative index', framed(2, 1), /index -1 is negative/],
    ['a varint longer than 5 bytes', framed(2, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), /cut short/],
  ])('refuses %s', (_name, value, reason) => {
    const r = readMessageIndexes(value);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toMatch(reason);
  });

  it('writes what it reads back, [0] as one byte', () => {
    for (const indexes of [[0], [1], [1, 0], [0, 2, 5], [300]]) {
      const bytes = writeMessageIndexes(indexes);
      expect(readMessageIndexes(Buffer.concat([framed(), bytes]))).toEqual({
        ok: true,
        indexes,
        payloadOffset: 5 + bytes.length,
      });
    }
    expect(writeMessageIndexes([0])).toEqual(Buffer.from([0]));
    expect(writeMessageIndexes([1])).toEqual(Buffer.from([2, 2]));
  });
});

describe('messagesOfProtoFile + messageAt', () => {
  const proto = `
    syntax = "proto3";
    package acme.billing.v1;
    import "acme/common.proto";
    message First { string a = 1; }
    enum Kind { KIND_UNSPECIFIED = 0; }
    message Invoice {
      enum Status { STATUS_UNSPECIFIED = 0; }
      message Line { string sku = 1; }
      message Tax { string code = 1; }
      acme.common.Money total = 1;
    }
  `;
  const messages = messagesOfProtoFile(proto);

  it('lists the messages of the file in order, skipping enums, with their nested messages', () => {
    expect(messages.map((m) => [m.fullName, m.nested.map((n) => n.fullName)])).toEqual([
      ['.acme.billing.v1.First', []],
      ['.acme.billing.v1.Invoice', ['.acme.billing.v1.Invoice.Line', '.acme.billing.v1.Invoice.Tax']],
    ]);
  });

  it('resolves index paths to message names', () => {
    expect(messageAt(messages, [0])).toEqual({ ok: true, fullName: '.acme.billing.v1.First' });
    expect(messageAt(messages, [1])).toEqual({ ok: true, fullName: '.acme.billing.v1.Invoice' });
    expect(messageAt(messages, [1, 1])).toEqual({ ok: true, fullName: '.acme.billing.v1.Invoice.Tax' });
  });

  it('says which level has no such message', () => {
    expect(messageAt(messages, [2])).toEqual({
      ok: false,
      reason: 'message index [2] names no message: level 0 has 2',
    });
    expect(messageAt(messages, [0, 0])).toMatchObject({ ok: false, reason: expect.stringMatching(/level 1 has 0/) });
  });

  it('handles a file without a package', () => {
    expect(messagesOfProtoFile('syntax = "proto3"; message A {} message B {}').map((m) => m.fullName)).toEqual([
      '.A',
      '.B',
    ]);
  });
});

describe('schemaUri', () => {
  it('points at the schema in the registry, without credentials', () => {
    expect(schemaUri('http://user:secret@registry:8081/apis/ccompat/v7/', 7)).toBe(
      'http://registry:8081/apis/ccompat/v7/schemas/ids/7',
    );
  });
});

describe('readProtobufFraming', () => {
  it('reads an index array when the byte after the schema id is below 8', () => {
    expect(readProtobufFraming(framed(2, 2, 0x0a))).toEqual({ ok: true, indexes: [1], payloadOffset: 7 });
    expect(readProtobufFraming(framed(0, 0x0a))).toEqual({ ok: true, indexes: [0], payloadOffset: 6 });
  });

  it("takes a first byte of 8 or more for the start of the library's index-less first message", () => {
    expect(readProtobufFraming(framed(0x0a, 0x01, 0x41))).toEqual({
      ok: true,
      indexes: [0],
      payloadOffset: 5,
      indexless: true,
    });
  });

  it('refuses a value that ends after the schema id, or an odd (negative) count', () => {
    expect(readProtobufFraming(framed())).toMatchObject({ ok: false });
    expect(readProtobufFraming(framed(1, 0x0a))).toMatchObject({ ok: false, reason: expect.stringMatching(/-1/) });
  });
});
