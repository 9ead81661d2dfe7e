import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_READ_BITS,
  MAX_READ_REGISTERS,
  type PointAddress,
  planReads,
  pointWidth,
  rawValueAt,
} from '../src/modbus/planner.ts';
import { encodeRegisters, type FunctionCode, REGISTER_TYPES } from '../src/modbus/registers.ts';

const pointArb = fc.record({
  unitId: fc.integer({ min: 1, max: 3 }),
  fc: fc.constantFrom<FunctionCode>(1, 2, 3, 4),
  address: fc.integer({ min: 0, max: 65532 }),
  type: fc.constantFrom(...REGISTER_TYPES),
});
const optsArb = fc.record(
  {
    maxRegisters: fc.integer({ min: 4, max: MAX_READ_REGISTERS }),
    maxBits: fc.integer({ min: 1, max: MAX_READ_BITS }),
    maxGap: fc.integer({ min: 0, max: 200 }),
  },
  { requiredKeys: [] },
);
// Clustered addresses so that merging actually happens.
const clusteredArb = fc
  .tuple(fc.integer({ min: 0, max: 60000 }), fc.array(pointArb, { minLength: 1, maxLength: 60 }))
  .map(([base, points]) => points.map((p) => ({ ...p, address: base + (p.address % 400) })));

describe('modbus request planner', () => {
  it('covers every point exactly once, within limits, never mixing unit or function code', () => {
    fc.assert(
      fc.property(fc.oneof(clusteredArb, fc.array(pointArb, { maxLength: 40 })), optsArb, (points, opts) => {
        const reads = planReads(points, opts);
        const seen = new Map<PointAddress, number>();
        for (const r of reads) {
          const bits = r.fc === 1 || r.fc === 2;
          expect(r.count).toBeGreaterThan(0);
          expect(r.count).toBeLessThanOrEqual(
            bits ? (opts.maxBits ?? MAX_READ_BITS) : (opts.maxRegisters ?? MAX_READ_REGISTERS),
          );
          expect(r.address + r.count).toBeLessThanOrEqual(0x10000);
          for (const { point, offset } of r.points) {
            expect(point.unitId).toBe(r.unitId);
            expect(point.fc).toBe(r.fc);
            expect(offset).toBe(point.address - r.address);
            expect(offset + pointWidth(point)).toBeLessThanOrEqual(r.count);
            seen.set(point, (seen.get(point) ?? 0) + 1);
          }
        }
        expect(seen.size).toBe(points.length);
        for (const n of seen.values()) expect(n).toBe(1);
      }),
    );
  });

  it('never spans a hole wider than maxGap', () => {
    fc.assert(
      fc.property(clusteredArb, fc.integer({ min: 0, max: 20 }), (points, maxGap) => {
        for (const r of planReads(points, { maxGap })) {
          const covered = new Array<boolean>(r.count).fill(false);
          for (const { point, offset } of r.points) {
            for (let i = 0; i < pointWidth(point); i++) covered[offset + i] = true;
          }
          let hole = 0;
          for (const c of covered) {
            hole = c ? 0 : hole + 1;
            expect(hole).toBeLessThanOrEqual(maxGap);
          }
        }
      }),
    );
  });

  it('merges an SDM630-like map into one read and splits at the device limit', () => {
    const floats = [0x00, 0x02, 0x04, 0x06, 0x08, 0x0a, 0x0c, 0x0e, 0x10, 0x34, 0x46, 0x48].map(
      (address) => ({
        unitId: 1,
        fc: 4 as const,
        address,
        type: 'float32' as const,
      }),
    );
    expect(planReads(floats, { maxGap: 8 }).map((r) => [r.address, r.count])).toEqual([
      [0x00, 0x12],
      [0x34, 2],
      [0x46, 4],
    ]);
    expect(planReads(floats, { maxGap: 64 }).map((r) => [r.address, r.count])).toEqual([[0x00, 0x4a]]);
    expect(planReads(floats, { maxGap: 64, maxRegisters: 40 }).map((r) => [r.address, r.count])).toEqual([
      [0x00, 0x12],
      [0x34, 0x16],
    ]);
  });

  it('keeps unit ids apart behind one gateway', () => {
    const reads = planReads([
      { unitId: 1, fc: 3, address: 0x2012, type: 'float32' },
      { unitId: 2, fc: 3, address: 0x2012, type: 'float32' },
      { unitId: 1, fc: 3, address: 0x2014, type: 'float32' },
    ]);
    expect(reads.map((r) => [r.unitId, r.address, r.count])).toEqual([
      [1, 0x2012, 4],
      [2, 0x2012, 2],
    ]);
  });

  it('maps answers back to points, bits and registers', () => {
    const p = { unitId: 1, fc: 3 as const, address: 10, type: 'float32' as const, order: 'CDAB' as const };
    const answer = [0, 0, ...encodeRegisters(512.5, 'float32', 'CDAB')];
    expect(rawValueAt(answer, 2, p)).toBe(512.5);
    expect(rawValueAt([false, true], 1, { unitId: 1, fc: 1, address: 0, type: 'uint16' })).toBe(1);
    expect(() => rawValueAt([1], 0, p)).toThrow(/no register/);
  });

  it('rejects limits outside the protocol', () => {
    expect(() =>
      planReads([{ unitId: 1, fc: 3, address: 0, type: 'uint16' }], { maxRegisters: 200 }),
    ).toThrow(/maxRegisters/);
    expect(() => planReads([{ unitId: 1, fc: 1, address: 0, type: 'uint16' }], { maxBits: 0 })).toThrow(
      /maxBits/,
    );
    expect(() => planReads([{ unitId: 1, fc: 3, address: 65535, type: 'float32' }])).toThrow(/outside/);
  });
});
