import { RecordRefusedError } from '../parked/failure-store';
import { refusedOr, sqlStateOf } from './sql-state';

describe('sqlStateOf / refusedOr', () => {
  it('reads the SQLSTATE from node-postgres and from Prisma’s driver adapter, nothing from other errors', () => {
    expect(sqlStateOf(Object.assign(new Error('x'), { code: '23505' }))).toBe('23505');
    expect(sqlStateOf({ meta: { driverAdapterError: { cause: { originalCode: '40P01' } } } })).toBe('40P01');
    expect(sqlStateOf(Object.assign(new Error('down'), { code: 'ECONNREFUSED' }))).toBeUndefined();
    expect(sqlStateOf(null)).toBeUndefined();
  });

  it('turns a data fault into RecordRefusedError and leaves anything else as it is', () => {
    const fault = refusedOr(Object.assign(new Error('invalid byte sequence'), { code: '22021' }));
    expect(fault).toBeInstanceOf(RecordRefusedError);
    expect(fault).toMatchObject({ message: 'invalid byte sequence' });
    const deadlock = Object.assign(new Error('deadlock'), { code: '40P01' });
    expect(refusedOr(deadlock)).toBe(deadlock);
    const away = Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
    expect(refusedOr(away)).toBe(away);
  });
});
