import { describe, expect, it } from 'vitest';
import { strftime } from '../../../../engine/chat/strftime.ts';

describe('strftime (Python, C locale)', () => {
  it('formats local time with the common directives', () => {
    // Sunday 3 March 2024, 07:05:09 local time: day 31 + 29 + 3 = 63 of a leap year
    const d = new Date(2024, 2, 3, 7, 5, 9);
    expect(strftime(d, '%Y-%m-%d %H:%M:%S')).toBe('2024-03-03 07:05:09');
    expect(strftime(d, '%a %A %b %B %h %y %j %e')).toBe('Sun Sunday Mar March Mar 24 063  3');
    expect(strftime(d, '%I %p|%F|100%%')).toBe('07 AM|2024-03-03|100%');
    expect(strftime(new Date(2024, 11, 31, 12, 0, 0), '%I %p %j')).toBe('12 PM 366');
    expect(strftime(new Date(2023, 0, 1, 0, 30, 0), '%I %p %d %b %Y')).toBe('12 AM 01 Jan 2023');
  });

  it('copies unknown directives through', () => {
    expect(strftime(new Date(2024, 0, 1), '%Q %Y')).toBe('%Q 2024');
  });
});
