/**
 * Istio's mesh-wide path normalisation (`meshConfig.pathNormalization`, default BASE): the path a
 * waypoint routes, authorises and forwards. Routing (`src/routes`), policy (`src/policy`) and the
 * forwarded request (`src/l7/http`) all read it from here.
 */

/**
 * Path characters by Envoy's (Chromium-derived) path canonicaliser: 0 = copy,
 * 1 = escape as %XX, 2 = decode when percent-encoded (unreserved characters), 3 = invalid (NUL).
 */
const PATH_CHAR = (() => {
  const t = new Uint8Array(256);
  for (let c = 0; c < 0x20; c++) t[c] = 1;
  t[0] = 3;
  for (const ch of ' "#<>?\\^`{|}') t[ch.charCodeAt(0)] = 1;
  for (let c = 0x7f; c < 256; c++) t[c] = 1;
  for (let c = 48; c <= 57; c++) t[c] = 2;
  for (let c = 65; c <= 90; c++) t[c] = 2;
  for (let c = 97; c <= 122; c++) t[c] = 2;
  for (const ch of '-._~') t[ch.charCodeAt(0)] = 2;
  return t;
})();

function hexValue(c: number): number {
  return c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
}

const HEX = '0123456789ABCDEF';

/** True when `path` (no query, no fragment) needs no canonicalisation: no `%`, `\`, dot segment or odd byte. */
function isCanonicalPath(path: string, end: number): boolean {
  if (end === 0 || path.charCodeAt(0) !== 47) return false;
  for (let i = 0; i < end; i++) {
    const c = path.charCodeAt(i);
    if (c === 37 /* % */ || c > 0x7e || PATH_CHAR[c] === 1 || PATH_CHAR[c] === 3) return false;
    if (c === 46 /* . */ && path.charCodeAt(i - 1) === 47) {
      const next = i + 1 < end ? path.charCodeAt(i + 1) : 47;
      if (next === 47) return false;
      if (next === 46 && (i + 2 >= end || path.charCodeAt(i + 2) === 47)) return false;
    }
  }
  return true;
}

/**
 * The path an Istio waypoint authorises and forwards (mesh `pathNormalization: BASE`, Envoy's
 * `normalize_path`): the fragment is dropped, the query is kept as it is, and the path part goes through
 * Envoy's `normalize_path`: `\` → `/`; percent-encoded unreserved characters (`%2D %2E %30-%39
 * %41-%5A %5F %61-%7A %7E`) decoded; other escapes kept as written (so `%2F` stays); characters
 * not allowed in a path escaped; `.` and `..` segments (also as `%2E`) removed. Slashes are not
 * merged. Returns undefined for a path Envoy rejects with 400 (`%00` or a NUL byte).
 */
export function normalizePath(raw: string): string | undefined {
  const hash = raw.indexOf('#');
  const noFragment = hash < 0 ? raw : raw.slice(0, hash);
  const q = noFragment.indexOf('?');
  const end = q < 0 ? noFragment.length : q;
  if (isCanonicalPath(noFragment, end)) return noFragment;
  const path = canonicalizePathPart(noFragment, end);
  if (path === undefined) return undefined;
  return q < 0 ? path : path + noFragment.slice(q);
}

/** Index of the first `?` or `#` in a request target (its length when there is none). */
export function pathPartEnd(raw: string): number {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 63 || c === 35) return i;
  }
  return raw.length;
}

/**
 * The normalised path part of `raw` as a range: `raw` itself when it needs no normalisation
 * (the path is `raw.slice(0, pathPartEnd(raw))`, no copy), else the normalised path (its whole
 * length). Undefined when Envoy would reject the path.
 */
export function normalizedPathRange(raw: string): string | undefined {
  const end = pathPartEnd(raw);
  return isCanonicalPath(raw, end) ? raw : canonicalizePathPart(raw, end);
}

/** `normalizePath` without the query: what `paths` / `notPaths` are compared with. */
export function normalizedPathForMatch(raw: string): string | undefined {
  const end = pathPartEnd(raw);
  if (isCanonicalPath(raw, end)) return end === raw.length ? raw : raw.slice(0, end);
  return canonicalizePathPart(raw, end);
}

/** Length of a dot at `i` (`.` → 1, `%2e`/`%2E` → 3), else 0. */
function dotAt(s: string, i: number, end: number): number {
  const c = s.charCodeAt(i);
  if (c === 46) return 1;
  if (c === 37 && i + 2 < end && s.charCodeAt(i + 1) === 50 && (s.charCodeAt(i + 2) | 0x20) === 101) return 3;
  return 0;
}

function isSlash(c: number): boolean {
  return c === 47 || c === 92;
}

function canonicalizePathPart(s: string, end: number): string | undefined {
  const out: string[] = [];
  if (end === 0 || !isSlash(s.charCodeAt(0))) out.push('/');
  const backUp = (): void => {
    // The output ends with '/': drop the last segment, keeping the slash before it.
    let i = out.length - 1;
    if (i <= 0) return;
    i--;
    while (i > 0 && out[i] !== '/') i--;
    out.length = i + 1;
  };
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    const dot = dotAt(s, i, end);
    if (dot > 0) {
      if (out.length > 0 && out[out.length - 1] === '/') {
        const after = i + dot;
        if (after === end) {
          i = after - 1;
          continue; // "/." at the end
        }
        if (isSlash(s.charCodeAt(after))) {
          i = after;
          continue; // "/./"
        }
        const dot2 = dotAt(s, after, end);
        if (dot2 > 0) {
          const after2 = after + dot2;
          if (after2 === end || isSlash(s.charCodeAt(after2))) {
            backUp();
            i = after2 === end ? after2 - 1 : after2;
            continue;
          }
        }
      }
      out.push('.');
      i += dot - 1;
      continue;
    }
    if (c === 92) {
      out.push('/');
      continue;
    }
    if (c === 37) {
      const h1 = i + 2 < end ? hexValue(s.charCodeAt(i + 1)) : -1;
      const h2 = i + 2 < end ? hexValue(s.charCodeAt(i + 2)) : -1;
      if (h1 < 0 || h2 < 0) {
        out.push('%'); // invalid escape: copied as it is
        continue;
      }
      const value = h1 * 16 + h2;
      const kind = PATH_CHAR[value]!;
      if (kind === 3) return undefined;
      if (kind === 2) out.push(String.fromCharCode(value));
      else out.push(s.slice(i, i + 3));
      i += 2;
      continue;
    }
    if (c > 0xff) {
      // Not from a latin1-decoded request line: escape the character's UTF-8 bytes.
      const cp = s.codePointAt(i)!;
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) out.push('%' + HEX[b >> 4]! + HEX[b & 15]!);
      if (cp > 0xffff) i++;
      continue;
    }
    const kind = PATH_CHAR[c]!;
    if (kind === 3) return undefined;
    if (kind === 1) out.push('%' + HEX[c >> 4]! + HEX[c & 15]!);
    else out.push(s[i]!);
  }
  return out.join('');
}
