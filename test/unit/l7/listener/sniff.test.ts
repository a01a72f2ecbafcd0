import { describe, expect, it } from 'vitest';
import { H2_PREFACE, SNIFF_LIMIT, sniffProtocol, type SniffResult } from '../../../../src/l7/listener/sniff.js';

interface Row {
  name: string;
  input: Buffer;
  expected: SniffResult;
}

const text = (s: string): Buffer => Buffer.from(s, 'latin1');
const bytes = (...b: number[]): Buffer => Buffer.from(b);

/** An HTTP/2 SETTINGS frame header (length 0, type 4, flags 0, stream 0): what follows the preface. */
const SETTINGS_FRAME = bytes(0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00);

/** The first bytes of a TLS 1.2/1.3 ClientHello record. */
const CLIENT_HELLO = bytes(0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x5a, 0x1b);

const rows: Row[] = [
  // HTTP/1.x request lines
  { name: 'GET, HTTP/1.1, CRLF', input: text('GET / HTTP/1.1\r\n'), expected: 'http1' },
  { name: 'GET, HTTP/1.0, CRLF', input: text('GET / HTTP/1.0\r\n'), expected: 'http1' },
  { name: 'GET, HTTP/1.1, bare LF', input: text('GET / HTTP/1.1\n'), expected: 'http1' },
  { name: 'GET, HTTP/1.0, bare LF', input: text('GET /index.html HTTP/1.0\n'), expected: 'http1' },
  { name: 'whole request with headers and body', input: text('POST /api?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}'), expected: 'http1' },
  { name: 'custom method PURGE', input: text('PURGE /cache HTTP/1.1\r\n'), expected: 'http1' },
  { name: 'custom method with a dash (M-SEARCH, asterisk target)', input: text('M-SEARCH * HTTP/1.1\r\n'), expected: 'http1' },
  { name: 'custom method of tchar punctuation', input: text("X!#$%&'*+-.^_`|~1 / HTTP/1.1\r\n"), expected: 'http1' },
  { name: 'lower-case method (still a token)', input: text('get / HTTP/1.1\r\n'), expected: 'http1' },
  { name: 'method of exactly 20 characters', input: text(`${'A'.repeat(20)} / HTTP/1.1\r\n`), expected: 'http1' },
  { name: 'OPTIONS asterisk-form', input: text('OPTIONS * HTTP/1.1\r\n'), expected: 'http1' },
  { name: 'CONNECT authority-form', input: text('CONNECT 127.40.0.1:443 HTTP/1.1\r\n'), expected: 'http1' },
  { name: 'absolute-form target', input: text('GET http://reviews:9080/ HTTP/1.1\r\n'), expected: 'http1' },
  { name: 'PRI with HTTP/1.1 diverges from the preface and is a request line', input: text('PRI * HTTP/1.1\r\n'), expected: 'http1' },

  // Not yet decidable
  { name: 'empty buffer', input: Buffer.alloc(0), expected: 'need-more' },
  { name: 'one method character', input: text('G'), expected: 'need-more' },
  { name: 'whole method, no space yet', input: text('GET'), expected: 'need-more' },
  { name: 'method and space', input: text('GET '), expected: 'need-more' },
  { name: 'method and partial target', input: text('GET /api'), expected: 'need-more' },
  { name: 'partial version', input: text('GET / HTT'), expected: 'need-more' },
  { name: 'whole request line without line end', input: text('GET / HTTP/1.1'), expected: 'need-more' },
  { name: 'request line ending in CR only', input: text('GET / HTTP/1.1\r'), expected: 'need-more' },
  { name: '20 token characters (may still be a method)', input: text('A'.repeat(20)), expected: 'need-more' },
  { name: 'line without line end, one byte short of SNIFF_LIMIT', input: text(`GET /${'a'.repeat(SNIFF_LIMIT - 6)}`), expected: 'need-more' },
  { name: 'h2c preface: first byte', input: text('P'), expected: 'need-more' },
  { name: 'h2c preface: PRI', input: text('PRI'), expected: 'need-more' },
  { name: 'h2c preface: first line', input: text('PRI * HTTP/2.0\r\n'), expected: 'need-more' },
  { name: 'h2c preface: all but the last byte', input: H2_PREFACE.subarray(0, H2_PREFACE.length - 1), expected: 'need-more' },
  { name: 'PRIX diverges from the preface but is still a possible method', input: text('PRIX'), expected: 'need-more' },

  // h2c prior knowledge
  { name: 'h2c preface, whole', input: H2_PREFACE, expected: 'h2c' },
  { name: 'h2c preface followed by a SETTINGS frame', input: Buffer.concat([H2_PREFACE, SETTINGS_FRAME]), expected: 'h2c' },

  // Opaque TCP
  { name: 'TLS ClientHello', input: CLIENT_HELLO, expected: 'tcp' },
  { name: 'TLS record type byte alone', input: bytes(0x16), expected: 'tcp' },
  { name: 'binary garbage', input: bytes(0x00, 0xff, 0x13, 0x37, 0x80), expected: 'tcp' },
  { name: 'NUL byte', input: bytes(0x00), expected: 'tcp' },
  { name: 'request line with HTTP/2.0', input: text('GET / HTTP/2.0\r\n'), expected: 'tcp' },
  { name: 'request line with HTTP/1.2', input: text('GET / HTTP/1.2\r\n'), expected: 'tcp' },
  { name: 'request line with HTTP/0.9-style (no version)', input: text('GET /\r\n'), expected: 'tcp' },
  { name: 'request line with lower-case version', input: text('GET / http/1.1\r\n'), expected: 'tcp' },
  { name: 'request line with garbage after the version', input: text('GET / HTTP/1.1x\r\n'), expected: 'tcp' },
  { name: 'request line with a space before CRLF', input: text('GET / HTTP/1.1 \r\n'), expected: 'tcp' },
  { name: 'request line without target', input: text('GET HTTP/1.1\r\n'), expected: 'tcp' },
  { name: 'two spaces after the method', input: text('GET  / HTTP/1.1\r\n'), expected: 'tcp' },
  { name: 'tab after the method', input: text('GET\t/ HTTP/1.1\r\n'), expected: 'tcp' },
  { name: 'leading space', input: text(' GET / HTTP/1.1\r\n'), expected: 'tcp' },
  { name: 'leading CRLF', input: text('\r\nGET / HTTP/1.1\r\n'), expected: 'tcp' },
  { name: 'non-token character in the method', input: text('GE(T / HTTP/1.1\r\n'), expected: 'tcp' },
  { name: 'method of 21 characters', input: text(`${'A'.repeat(21)} / HTTP/1.1\r\n`), expected: 'tcp' },
  { name: '21 token characters, no space yet', input: text('A'.repeat(21)), expected: 'tcp' },
  { name: 'h2c preface diverging after its first line', input: text('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'), expected: 'tcp' },
  { name: 'h2c preface diverging in its last byte', input: Buffer.concat([H2_PREFACE.subarray(0, H2_PREFACE.length - 1), text('X')]), expected: 'tcp' },
  { name: 'SSH banner', input: text('SSH-2.0-OpenSSH_9.6\r\n'), expected: 'tcp' },
  { name: 'Redis inline command', input: text('PING\r\n'), expected: 'tcp' },
  { name: 'SMTP-style server greeting', input: text('220 mail.example.com ESMTP\r\n'), expected: 'tcp' },
  { name: 'no line end within SNIFF_LIMIT bytes', input: text(`GET /${'a'.repeat(SNIFF_LIMIT - 5)}`), expected: 'tcp' },
  { name: 'no line end well past SNIFF_LIMIT bytes', input: text(`GET /${'a'.repeat(2 * SNIFF_LIMIT)}`), expected: 'tcp' },
];

describe('sniffProtocol', () => {
  it('SNIFF_LIMIT fixtures have the intended lengths', () => {
    expect(text(`GET /${'a'.repeat(SNIFF_LIMIT - 6)}`).length).toBe(SNIFF_LIMIT - 1);
    expect(text(`GET /${'a'.repeat(SNIFF_LIMIT - 5)}`).length).toBe(SNIFF_LIMIT);
  });

  it.each(rows)('$name → $expected', ({ input, expected }) => {
    expect(sniffProtocol(input)).toBe(expected);
  });

  describe('every proper prefix is need-more', () => {
    const wholes = [
      { name: 'HTTP/1.1 request line (CRLF)', whole: text('GET /reviews/1 HTTP/1.1\r\n'), expected: 'http1' },
      { name: 'HTTP/1.0 request line (bare LF)', whole: text('DELETE /x HTTP/1.0\n'), expected: 'http1' },
      { name: 'h2c preface', whole: H2_PREFACE, expected: 'h2c' },
    ] as const;
    for (const { name, whole, expected } of wholes) {
      it(`${name}: prefixes need more, the whole is ${expected}`, () => {
        const seen: SniffResult[] = [];
        for (let n = 0; n < whole.length; n++) seen.push(sniffProtocol(whole.subarray(0, n)));
        expect(seen).toStrictEqual(Array.from({ length: whole.length }, () => 'need-more'));
        expect(sniffProtocol(whole)).toBe(expected);
      });
    }
  });

  it('decides from the bytes given, not from a larger underlying buffer', () => {
    const backing = text('GET / HTTP/1.1\r\n');
    expect(sniffProtocol(backing.subarray(0, 8))).toBe('need-more');
  });
});
