import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addDays,
  idleInWeek,
  idleTrend,
  isoWeek,
  spellsOf,
  weeksEndingBetween,
} from '../src/figures/idle-trend.ts';

describe('idle trend (pure)', () => {
  it('ISO weeks and the weeks whose Sunday lies in the period', () => {
    expect(isoWeek('2026-11-23')).toBe('2026-W48');
    expect(isoWeek('2026-01-01')).toBe('2026-W01');
    expect(isoWeek('2027-01-01')).toBe('2026-W53');
    const weeks = weeksEndingBetween('2026-11-01', '2026-11-22', 90);
    expect(weeks.map((w) => [w.start, w.end, w.windowStart])).toEqual([
      ['2026-10-26', '2026-11-01', '2026-08-04'],
      ['2026-11-02', '2026-11-08', '2026-08-11'],
      ['2026-11-09', '2026-11-15', '2026-08-18'],
      ['2026-11-16', '2026-11-22', '2026-08-25'],
    ]);
  });

  it('idle exactly when no powered day lies in the window and the first message is before it', () => {
    const base = '2026-01-05';
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 200 }), { maxLength: 25 }),
        fc.option(fc.integer({ min: 0, max: 200 }), { nil: null }),
        fc.integer({ min: 1, max: 60 }),
        (offsets, firstSeen, days) => {
          const powered = offsets.sort((a, b) => a - b).map((o) => addDays(base, o));
          const inst = {
            group: null,
            firstSeenDate: firstSeen === null ? null : addDays(base, firstSeen),
            spells: spellsOf(powered),
          };
          for (const week of weeksEndingBetween(addDays(base, 0), addDays(base, 210), days)) {
            const brute =
              inst.firstSeenDate !== null &&
              inst.firstSeenDate < week.windowStart &&
              !powered.some((d) => d >= week.windowStart && d <= week.end);
            expect(idleInWeek(inst, week)).toBe(brute);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('counts per group, null last', () => {
    const weeks = weeksEndingBetween('2026-06-01', '2026-06-07', 7);
    const rows = idleTrend(
      [
        { group: 'B', firstSeenDate: '2026-01-01', spells: spellsOf([]) },
        { group: null, firstSeenDate: '2026-01-01', spells: spellsOf(['2026-06-03']) },
        { group: 'A', firstSeenDate: '2026-06-02', spells: spellsOf([]) },
      ],
      weeks,
    );
    expect(rows[0]).toMatchObject({ idle: 1, reporting: 3 });
    expect(rows[0]!.groups).toEqual([
      { group: 'A', idle: 0, reporting: 1 },
      { group: 'B', idle: 1, reporting: 1 },
      { group: null, idle: 0, reporting: 1 },
    ]);
  });

  it('equals counting every instrument in every week by the definition (any fleet, any weeks)', () => {
    const date = fc.integer({ min: 0, max: 120 }).map((n) => addDays('2026-01-01', n));
    const instrument = fc.record({
      group: fc.constantFrom('A', 'B', null),
      firstSeenDate: fc.option(date, { nil: null }),
      powered: fc.uniqueArray(date, { maxLength: 12 }),
    });
    fc.assert(
      fc.property(
        fc.array(instrument, { maxLength: 25 }),
        date,
        fc.integer({ min: 1, max: 60 }),
        (list, to, days) => {
          const fleet = list.map((i) => ({
            group: i.group,
            firstSeenDate: i.firstSeenDate,
            spells: spellsOf([...i.powered].sort()),
          }));
          // Weeks in reverse order too: the result follows the order given.
          const weeks = weeksEndingBetween('2026-01-01', to, days).reverse();
          const got = idleTrend(fleet, weeks);
          const groups = [...new Set(fleet.map((f) => f.group))].sort((a, b) =>
            a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1,
          );
          expect(got).toEqual(
            weeks.map((week) => {
              const per = groups.map((g) => {
                const members = fleet.filter((f) => f.group === g);
                return {
                  group: g,
                  idle: members.filter((f) => idleInWeek(f, week)).length,
                  reporting: members.filter((f) => f.firstSeenDate !== null && f.firstSeenDate <= week.end)
                    .length,
                };
              });
              return {
                ...week,
                idle: per.reduce((s, g) => s + g.idle, 0),
                reporting: per.reduce((s, g) => s + g.reporting, 0),
                groups: per,
              };
            }),
          );
        },
      ),
    );
  });
});
