/**
 * Durations as Istio's tools write them (Go's `time.ParseDuration`): `24h`, `12h`, `90s`, `1h30m`,
 * `1.5h`, `500ms`. Used for `--cert-ttl` / `SECRET_TTL`.
 */
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?|\.\d+)(ms|h|m|s)/y;

/** Milliseconds in a Go-style duration; throws a message naming the text when it is not one. */
export function parseDurationMs(text: string): number {
  const s = text.trim();
  if (s === '') throw new Error('empty duration: expected a number with a unit such as 24h, 12h or 90s');
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const start = PART.lastIndex;
    const m = PART.exec(s);
    if (m === null || m.index !== start) {
      throw new Error(`invalid duration ${JSON.stringify(text)}: expected a number with a unit (h, m, s, ms), such as 24h, 12h or 90s`);
    }
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  if (!Number.isFinite(total)) throw new Error(`invalid duration ${JSON.stringify(text)}: too large`);
  return total;
}

/** Whole seconds for `validity_duration`, at least one; throws on a malformed or zero duration. */
export function durationSeconds(text: string): number {
  const seconds = Math.floor(parseDurationMs(text) / 1000);
  if (seconds < 1) throw new Error(`invalid duration ${JSON.stringify(text)}: a certificate lifetime must be at least 1s`);
  return seconds;
}
