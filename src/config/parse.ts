import { LineCounter, parseAllDocuments } from 'yaml';
import type { ConfigProblem } from './types.js';

/**
 * How many alias expansions one YAML document may make (the `yaml` package counts each node an
 * alias stands for). Enough for anchors shared between a handful of routes; far below what a
 * "billion laughs" document needs, which is refused before it is expanded.
 */
export const MAX_YAML_ALIAS_COUNT = 100;

/** One top-level document of a file (a YAML document, or the single value of a JSON file). */
export interface ParsedDocument {
  value: unknown;
  /** 1-based index of the document in its file. */
  index: number;
  /** 1-based line where the document's content starts. */
  line: number;
}

export interface ParsedFile {
  documents: ParsedDocument[];
  problems: ConfigProblem[];
}

/**
 * Parses a configuration file's text: JSON for `.json` files, multi-document YAML otherwise.
 * Syntax errors become problems carrying the line; the documents that parse are still returned,
 * so one broken document does not hide the problems of the others. Empty documents are dropped.
 */
export function parseConfigText(file: string, text: string): ParsedFile {
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  return file.toLowerCase().endsWith('.json') ? parseJson(file, source) : parseYaml(file, source);
}

function parseYaml(file: string, text: string): ParsedFile {
  const out: ParsedFile = { documents: [], problems: [] };
  const lineCounter = new LineCounter();
  // `merge: true`: Kubernetes manifests use YAML 1.1 merge keys (`<<: *defaults`).
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: true, merge: true });
  docs.forEach((doc, i) => {
    const index = i + 1;
    const start = doc.contents?.range[0] ?? doc.range[0];
    const line = lineCounter.linePos(start).line;
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const pos = err.linePos?.[0];
        const where = pos ? `line ${pos.line}, column ${pos.col}` : `document ${index}`;
        out.problems.push({
          severity: 'error',
          file,
          message: `YAML syntax error at ${where}: ${firstLine(stripPosition(err.message))}`,
        });
      }
      return;
    }
    for (const warning of doc.warnings) {
      out.problems.push({ severity: 'warning', file, message: `YAML: ${firstLine(warning.message)}` });
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT });
    } catch (err) {
      // An alias without its anchor, or more expansion than MAX_YAML_ALIAS_COUNT allows.
      out.problems.push({ severity: 'error', file, message: `YAML document ${index} (line ${line}): ${aliasMessage(err)}` });
      return;
    }
    if (value === null || value === undefined) return; // empty document
    out.documents.push({ value, index, line });
  });
  return out;
}

function aliasMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/alias count/i.test(message)) return `aliases expand too much (more than ${MAX_YAML_ALIAS_COUNT} alias nodes); refused as a resource exhaustion risk`;
  return firstLine(message);
}

function parseJson(file: string, text: string): ParsedFile {
  if (text.trim() === '') return { documents: [], problems: [] };
  try {
    const value: unknown = JSON.parse(text);
    if (value === null) return { documents: [], problems: [] };
    const line = lineOfOffset(text, text.length - text.trimStart().length);
    return { documents: [{ value, index: 1, line }], problems: [] };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const position = /at position (\d+)/.exec(message);
    const where = position?.[1] !== undefined ? ` at line ${lineOfOffset(text, Number(position[1]))}` : '';
    const detail = message.replace(/\s*\(line \d+ column \d+\)/, '').replace(/\r?\n/g, '\\n');
    return { documents: [], problems: [{ severity: 'error', file, message: `JSON syntax error${where}: ${detail}` }] };
  }
}

function lineOfOffset(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function firstLine(message: string): string {
  const nl = message.indexOf('\n');
  return (nl < 0 ? message : message.slice(0, nl)).replace(/:$/, '');
}

/** yaml's pretty messages end their first line with ` at line L, column C:`; we print that first. */
function stripPosition(message: string): string {
  return message.replace(/ at line \d+, column \d+:?/, '');
}
