/**
 * Python's `strftime` in the C locale, for the `strftime_now` template global
 * (Llama 3.x templates print today's date with "%d %b %Y"). English names
 * always: templates were written against Python, whose default locale is C.
 * Unknown directives are copied through, as glibc does.
 */

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

function dayOfYear(d: Date): number {
  const start = new Date(d.getFullYear(), 0, 1);
  // whole local days since 1 January, counted on the calendar (DST-proof)
  const utc = (x: Date) => Date.UTC(x.getFullYear(), x.getMonth(), x.getDate());
  return (utc(d) - utc(start)) / 86_400_000 + 1;
}

/** Formats the local time of `d` with Python/C strftime directives. */
export function strftime(d: Date, format: string): string {
  return format.replace(/%([a-zA-Z%])/g, (whole, c: string) => {
    switch (c) {
      case 'a':
        return DAYS[d.getDay()].slice(0, 3);
      case 'A':
        return DAYS[d.getDay()];
      case 'b':
      case 'h':
        return MONTHS[d.getMonth()].slice(0, 3);
      case 'B':
        return MONTHS[d.getMonth()];
      case 'd':
        return pad(d.getDate());
      case 'e':
        return String(d.getDate()).padStart(2, ' ');
      case 'H':
        return pad(d.getHours());
      case 'I':
        return pad(d.getHours() % 12 || 12);
      case 'j':
        return pad(dayOfYear(d), 3);
      case 'm':
        return pad(d.getMonth() + 1);
      case 'M':
        return pad(d.getMinutes());
      case 'p':
        return d.getHours() < 12 ? 'AM' : 'PM';
      case 'S':
        return pad(d.getSeconds());
      case 'y':
        return pad(d.getFullYear() % 100);
      case 'Y':
        return String(d.getFullYear());
      case 'F':
        return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
      case '%':
        return '%';
      default:
        return whole;
    }
  });
}
