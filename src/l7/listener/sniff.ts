/**
 * Protocol sniffing for tunnelled bytes: HTTP/1.x request line, h2c prior-knowledge preface,
 * or opaque TCP. Pure: looks only at the bytes it is given.
 */

export type SniffResult = 'http1' | 'h2c' | 'tcp' | 'need-more';

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Longest method token we accept before deciding the bytes are not HTTP/1.x. */
const MAX_METHOD = 20;
/** Bytes after which an unfinished request line is judged; a line must show its version by then. */
export const SNIFF_LIMIT = 8192;

function isTokenChar(c: number): boolean {
  // RFC 9110 tchar
  if (c >= 0x30 && c <= 0x39) return true; // DIGIT
  if (c >= 0x41 && c <= 0x5a) return true; // ALPHA upper
  if (c >= 0x61 && c <= 0x7a) return true; // ALPHA lower
  return "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c));
}

/**
 * Decides what the first bytes of a tunnel are. Returns `need-more` while the answer is not yet
 * certain and fewer than SNIFF_LIMIT bytes have been seen.
 */
export function sniffProtocol(buf: Buffer): SniffResult {
  if (buf.length === 0) return 'need-more';
  // h2c preface: every byte seen so far must match.
  const pre = Math.min(buf.length, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, pre, 0, pre) === 0) {
    return buf.length >= H2_PREFACE.length ? 'h2c' : 'need-more';
  }
  // HTTP/1.x: token SP request-target SP HTTP/1.x
  let i = 0;
  while (i < buf.length && i <= MAX_METHOD && isTokenChar(buf[i]!)) i++;
  if (i === buf.length) return buf.length > MAX_METHOD ? 'tcp' : 'need-more';
  if (i === 0 || i > MAX_METHOD || buf[i] !== 0x20) return 'tcp';
  const lineEnd = buf.indexOf(0x0a, i);
  if (lineEnd < 0) return buf.length >= SNIFF_LIMIT ? 'tcp' : 'need-more';
  let end = lineEnd;
  if (end > 0 && buf[end - 1] === 0x0d) end--;
  const line = buf.toString('latin1', 0, end);
  return /^[^ ]+ [^ ]+ HTTP\/1\.[01]$/.test(line) ? 'http1' : 'tcp';
}
