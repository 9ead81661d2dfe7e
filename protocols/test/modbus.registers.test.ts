import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeRegisters,
  encodeRegisters,
  REGISTER_TYPES,
  type RegisterType,
  registerCount,
  scaleValue,
  WORD_ORDERS,
} from '../src/modbus/registers.ts';

const arbitraryFor: Record<RegisterType, fc.Arbitrary<number>> = {
  int16: fc.integer({ min: -0x8000, max: 0x7fff }),
  uint16: fc.integer({ min: 0, max: 0xffff }),
  int32: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  uint32: fc.integer({ min: 0, max: 0xffffffff }),
  float32: fc.float({ noNaN: true }),
  float64: fc.double({ noNaN: true }),
};

describe('modbus register decoding', () => {
  for (const type of REGISTER_TYPES) {
    for (const order of WORD_ORDERS) {
      it(`round-trips ${type} in ${order}`, () => {
        fc.assert(
          fc.property(arbitraryFor[type], (value) => {
            const words = encodeRegisters(value, type, order);
            expect(words).toHaveLength(registerCount(type));
            for (const w of words) expect(w >= 0 && w <= 0xffff && Number.isInteger(w)).toBe(true);
            expect(Object.is(decodeRegisters(words, type, order), value)).toBe(true);
          }),
        );
      });
    }
  }

  // Golden cases: the bytes of 230.0 as a float32 are 43 66 00 00.
  it('reads float32 230 V in each order as the manuals print it', () => {
    expect(decodeRegisters([0x4366, 0x0000], 'float32', 'ABCD')).toBe(230);
    expect(decodeRegisters([0x0000, 0x4366], 'float32', 'CDAB')).toBe(230);
    expect(decodeRegisters([0x6643, 0x0000], 'float32', 'BADC')).toBe(230);
    expect(decodeRegisters([0x0000, 0x6643], 'float32', 'DCBA')).toBe(230);
  });

  it('reads signed and unsigned 16/32-bit integers', () => {
    expect(decodeRegisters([0xffff], 'int16')).toBe(-1);
    expect(decodeRegisters([0xffff], 'uint16')).toBe(65535);
    expect(decodeRegisters([0x0001, 0x0002], 'uint32', 'ABCD')).toBe(0x00010002);
    expect(decodeRegisters([0x0002, 0x0001], 'uint32', 'CDAB')).toBe(0x00010002);
    expect(decodeRegisters([0xfffe, 0xffff], 'int32', 'CDAB')).toBe(-2);
    expect(decodeRegisters([0x0100], 'uint16', 'DCBA')).toBe(1);
  });

  it('reads float64 with words swapped', () => {
    const words = encodeRegisters(1234.5678, 'float64', 'ABCD');
    expect(decodeRegisters([...words].reverse(), 'float64', 'CDAB')).toBe(1234.5678);
  });

  it('applies value = raw × scale + offset', () => {
    expect(scaleValue(2301, 0.1)).toBeCloseTo(230.1);
    expect(scaleValue(12000, 0.00625, -25)).toBeCloseTo(50);
    expect(scaleValue(7)).toBe(7);
  });

  it('rejects too few registers and values that do not fit', () => {
    expect(() => decodeRegisters([1], 'float32')).toThrow(/needs 2 registers/);
    expect(() => decodeRegisters([0x10000], 'uint16')).toThrow(/not a 16-bit value/);
    expect(() => encodeRegisters(70000, 'uint16')).toThrow(/does not fit uint16/);
    expect(() => encodeRegisters(1.5, 'int32')).toThrow(/does not fit int32/);
  });
});
