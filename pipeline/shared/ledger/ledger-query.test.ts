import { decodeLedgerCursor, encodeLedgerCursor } from './ledger-query';

describe('ledger cursors', () => {
  const receivedAt = new Date('2026-12-01T10:00:00.123Z');

  it('round-trips event and delivery cursors, ids with any characters', () => {
    const e = { receivedAt, eventId: 'evt|with"odd,chars' };
    expect(decodeLedgerCursor(encodeLedgerCursor(e), false)).toEqual(e);
    const d = { ...e, subscriptionId: 'sub-1' };
    expect(decodeLedgerCursor(encodeLedgerCursor(d), true)).toEqual(d);
  });

  it('refuses what it did not hand out, and one kind of cursor for the other', () => {
    expect(decodeLedgerCursor('not-a-cursor', false)).toBeUndefined();
    expect(decodeLedgerCursor(Buffer.from('["x","e"]').toString('base64url'), false)).toBeUndefined();
    expect(decodeLedgerCursor(Buffer.from('{"a":1}').toString('base64url'), false)).toBeUndefined();
    const d = encodeLedgerCursor({ receivedAt, eventId: 'e', subscriptionId: 's' });
    expect(decodeLedgerCursor(d, false)).toBeUndefined();
    expect(decodeLedgerCursor(encodeLedgerCursor({ receivedAt, eventId: 'e' }), true)).toBeUndefined();
  });
});
