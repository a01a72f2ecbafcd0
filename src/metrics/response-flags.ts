/**
 * Envoy's response flags: the short codes, in the order Envoy prints them
 * (`ResponseFlagUtils::toShortString`, the `CoreResponseFlag` enum order), and one way to compose
 * several of them. A request or connection accumulates flags as Envoy's StreamInfo does (a set:
 * adding a flag twice keeps one); the access log and the `response_flags` metric label print the
 * set comma-joined in Envoy's order, `-` when it is empty.
 */

export const RESPONSE_FLAGS = [
  'LH',
  'UH',
  'UT',
  'LR',
  'UR',
  'UF',
  'UC',
  'UO',
  'NR',
  'DI',
  'FI',
  'RL',
  'UAEX',
  'RLSE',
  'DC',
  'URX',
  'SI',
  'IH',
  'DPE',
  'UMSDR',
  'RFCF',
  'NFCF',
  'DT',
  'UPE',
  'NC',
  'OM',
  'DF',
  'DO',
  'DR',
  'UDO',
] as const;

export type ResponseFlag = (typeof RESPONSE_FLAGS)[number];

declare const responseFlagsBrand: unique symbol;

/**
 * A set of response flags: bit i stands for `RESPONSE_FLAGS[i]`. A number so that composing flags
 * on the request path allocates nothing; build one only with the functions below.
 */
export type ResponseFlags = number & { readonly [responseFlagsBrand]: true };

export const NO_RESPONSE_FLAGS = 0 as ResponseFlags;

const BIT = new Map<string, number>(RESPONSE_FLAGS.map((f, i) => [f, 1 << i]));

function bitOf(flag: ResponseFlag): number {
  return BIT.get(flag) as number;
}

export function isResponseFlag(code: string): code is ResponseFlag {
  return BIT.has(code);
}

/** The set of the flags given. */
export function responseFlags(...flags: readonly ResponseFlag[]): ResponseFlags {
  let set = 0;
  for (const f of flags) set |= bitOf(f);
  return set as ResponseFlags;
}

/** `set` with `flag` added. */
export function withResponseFlag(set: ResponseFlags, flag: ResponseFlag): ResponseFlags {
  return (set | bitOf(flag)) as ResponseFlags;
}

/** Every flag of `a` and of `b`. */
export function unionResponseFlags(a: ResponseFlags, b: ResponseFlags): ResponseFlags {
  return (a | b) as ResponseFlags;
}

/** `set` without `flag`. */
export function withoutResponseFlag(set: ResponseFlags, flag: ResponseFlag): ResponseFlags {
  return (set & ~bitOf(flag)) as ResponseFlags;
}

export function hasResponseFlag(set: ResponseFlags, flag: ResponseFlag): boolean {
  return (set & bitOf(flag)) !== 0;
}

/** The flags of a set, in Envoy's order. */
export function responseFlagList(set: ResponseFlags): ResponseFlag[] {
  const out: ResponseFlag[] = [];
  for (let i = 0; i < RESPONSE_FLAGS.length; i++) if ((set & (1 << i)) !== 0) out.push(RESPONSE_FLAGS[i]!);
  return out;
}

/** The combinations seen so far, printed; a handful in practice (bounded below regardless). */
const printed = new Map<number, string>([[0, '-']]);
const MAX_PRINTED = 1024;

/**
 * `%RESPONSE_FLAGS%` as Envoy prints it: the flags comma-joined in Envoy's order, `-` when none.
 * The access log's `response_flags` field and the `response_flags` metric label.
 */
export function formatResponseFlags(set: ResponseFlags): string {
  const known = printed.get(set);
  if (known !== undefined) return known;
  const text = responseFlagList(set).join(',');
  if (printed.size < MAX_PRINTED) printed.set(set, text);
  return text;
}
