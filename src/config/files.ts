import { existsSync } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigProblem } from './types.js';

/** Extensions read when walking a directory (an explicitly named file is read whatever its name). */
const CONFIG_EXTENSIONS = ['.yaml', '.yml', '.json'];

export interface ConfigFileList {
  /** Files to read, as the operator would name them (given path joined with the relative path). */
  files: string[];
  /** Every directory walked, given paths included (what a watcher must watch). */
  directories: string[];
  problems: ConfigProblem[];
}

export function isConfigFileName(name: string): boolean {
  const lower = name.toLowerCase();
  return CONFIG_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/**
 * Names a directory walk skips: hidden entries. This also skips the `..data` and `..<timestamp>`
 * entries of a Kubernetes ConfigMap volume, whose visible files are symlinks into them.
 */
export function isHiddenName(name: string): boolean {
  return name.startsWith('.');
}

/**
 * Expands files and directories into the list of configuration files to read. Directories are
 * walked recursively (symlinks followed, loops cut), entries sorted by name for determinism. A file
 * reached twice (say, named explicitly and inside a named directory) is listed once.
 */
export async function listConfigFiles(paths: readonly string[]): Promise<ConfigFileList> {
  const out: ConfigFileList = { files: [], directories: [], problems: [] };
  const seenFiles = new Set<string>();
  const seenDirs = new Set<string>();

  const addFile = async (file: string): Promise<void> => {
    const real = await realpath(file).catch(() => file);
    if (seenFiles.has(real)) return;
    seenFiles.add(real);
    out.files.push(file);
  };

  const walk = async (dir: string): Promise<void> => {
    const real = await realpath(dir).catch(() => dir);
    if (seenDirs.has(real)) return;
    seenDirs.add(real);
    out.directories.push(dir);
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      out.problems.push({ severity: 'error', file: dir, message: `cannot read directory: ${errorText(err)}` });
      return;
    }
    const names = entries
      .filter((e) => !isHiddenName(e.name))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of names) {
      const full = path.join(dir, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const target = await stat(full).catch(() => undefined);
        if (target === undefined) continue; // dangling link: nothing to read
        isDir = target.isDirectory();
        isFile = target.isFile();
      }
      if (isDir) await walk(full);
      else if (isFile && isConfigFileName(entry.name)) await addFile(full);
    }
  };

  for (const given of paths) {
    let info;
    try {
      info = await stat(given);
    } catch (err) {
      out.problems.push({ severity: 'error', file: given, message: `cannot read: ${errorText(err)}` });
      continue;
    }
    if (info.isDirectory()) await walk(given);
    else await addFile(given);
  }
  return out;
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'no such file or directory';
    if (code === 'EACCES') return 'permission denied';
    return err.message;
  }
  return String(err);
}

// Files shipped in the package beside `dist/` (`examples/`, `proto/`, `deploy/`) are found by
// walking up from the module that asks. That works wherever the module runs from: `src/`
// (tests), the tsc output `dist/src/...`, and the bundled `waypoint` command in `dist/bin/`
// (scripts/bundle.mjs), where a fixed `../../..` would point elsewhere.

/**
 * `relative` (e.g. `examples/demo-mesh.yaml`) in the nearest directory above the module at
 * `moduleUrl` (its `import.meta.url`) that holds it, or undefined when none does.
 */
export function findPackageFile(relative: string, moduleUrl: string): string | undefined {
  let dir = path.dirname(fileURLToPath(moduleUrl));
  for (;;) {
    const candidate = path.join(dir, relative);
    if (existsSync(candidate)) return candidate;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}
