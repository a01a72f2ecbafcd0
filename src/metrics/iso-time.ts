/**
 * `new Date(ms).toISOString()` without a Date per call: the text up to the seconds is kept for the
 * last second seen, so records stamped within one second only format their milliseconds. Access
 * records are stamped on every request; the profile put `toISOString` near 1 % of the waypoint's CPU.
 */
let cachedSecond = Number.NaN;
let cachedPrefix = '';

/** The ISO 8601 UTC text of an epoch-milliseconds time, as `Date.prototype.toISOString` gives it. */
export function isoTime(ms: number): string {
  if (!Number.isInteger(ms)) return new Date(ms).toISOString();
  const second = Math.floor(ms / 1000);
  // Years outside 0000–9999 use the extended form: leave them to Date.
  if (second !== cachedSecond) {
    const full = new Date(ms).toISOString();
    if (full.length !== 24) return full;
    cachedSecond = second;
    cachedPrefix = full.slice(0, 20);
    return full;
  }
  const milli = ms - second * 1000;
  return `${cachedPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}
