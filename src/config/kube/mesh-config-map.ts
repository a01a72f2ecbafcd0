/**
 * Istio's mesh config from the Kubernetes API: the `mesh` key of the `istio` ConfigMap in the root
 * namespace, parsed by the same parser as `--mesh-config` (`../mesh-config.ts`). A ConfigMap that
 * is absent (or not readable) means no mesh config; a bad one is reported (a log line and a
 * `/config_dump` warning) and the last good one kept. `readMeshConfigMap` is the pure decision;
 * `MeshConfigMap` holds what is in force for the Kubernetes source (`source.ts`).
 */
import type { Logger } from 'pino';
import { EMPTY_MESH_CONFIG, parseMeshConfig, type MeshConfig } from '../mesh-config.js';
import type { ConfigProblem } from '../types.js';

export const MESH_CONFIG_MAP_NAME = 'istio';

export type MeshConfigMapReading =
  | { kind: 'absent' }
  | { kind: 'ok'; config: MeshConfig }
  | { kind: 'bad'; errors: string[] };

/** What a ConfigMap object (slimmed or not; undefined: there is none) says about the mesh config. */
export function readMeshConfigMap(obj: Readonly<Record<string, unknown>> | undefined): MeshConfigMapReading {
  if (obj === undefined) return { kind: 'absent' };
  const data = obj['data'];
  if (data === undefined || data === null) return { kind: 'ok', config: EMPTY_MESH_CONFIG };
  if (typeof data !== 'object' || Array.isArray(data)) return { kind: 'bad', errors: ['data: must be a map of strings'] };
  const mesh = (data as Record<string, unknown>)['mesh'];
  if (mesh === undefined) return { kind: 'ok', config: EMPTY_MESH_CONFIG };
  if (typeof mesh !== 'string') return { kind: 'bad', errors: ['data.mesh: must be a string (the mesh config YAML)'] };
  const parsed = parseMeshConfig(mesh);
  return parsed.ok ? { kind: 'ok', config: parsed.config } : { kind: 'bad', errors: parsed.errors };
}

export interface MeshConfigMapOptions {
  /** Istio's root namespace (`--root-namespace`). */
  namespace: string;
  /** Default `istio`. */
  name?: string | undefined;
  logger: Logger;
}

/** The mesh config in force from the ConfigMap, and the problem with the latest version, if any. */
export class MeshConfigMap {
  readonly namespace: string;
  readonly name: string;
  readonly #log: Logger;
  #current: MeshConfig = EMPTY_MESH_CONFIG;
  #problem: ConfigProblem | undefined;
  /** The resourceVersion last read (undefined: absent), so a re-list of the same object is no change. */
  #seen: string | null | undefined = null;

  constructor(opts: MeshConfigMapOptions) {
    this.namespace = opts.namespace;
    this.name = opts.name ?? MESH_CONFIG_MAP_NAME;
    this.#log = opts.logger.child({ meshConfig: `${this.namespace}/${this.name}` });
  }

  /** The last good mesh config (empty while the ConfigMap is absent). */
  get current(): MeshConfig {
    return this.#current;
  }

  /** A bad latest version, as a `/config_dump` warning; undefined when the latest is in force. */
  problems(): ConfigProblem[] {
    return this.#problem === undefined ? [] : [this.#problem];
  }

  /** The ConfigMap as listed or watched now (undefined: none). True when what the source reports changed. */
  set(obj: Readonly<Record<string, unknown>> | undefined): boolean {
    const meta = obj?.['metadata'] as Record<string, unknown> | undefined;
    const rv = obj === undefined ? undefined : typeof meta?.['resourceVersion'] === 'string' ? meta['resourceVersion'] : '';
    if (rv === this.#seen && rv !== '') return false;
    this.#seen = rv;
    const reading = readMeshConfigMap(obj);
    if (reading.kind === 'bad') {
      this.#log.error({ errors: reading.errors }, 'mesh config rejected (data.mesh of the ConfigMap); keeping the last good one');
      this.#problem = {
        severity: 'warning',
        file: 'kubernetes',
        kind: 'ConfigMap',
        namespace: this.namespace,
        name: this.name,
        field: 'data.mesh',
        message: `mesh config rejected, the last good one is kept: ${reading.errors.join('; ')}`,
      };
      return true;
    }
    this.#problem = undefined;
    this.#current = reading.kind === 'ok' ? reading.config : EMPTY_MESH_CONFIG;
    const providers = [...this.#current.extAuthzProviders.keys()];
    if (reading.kind === 'absent') this.#log.info('no mesh config ConfigMap: no extension providers');
    else this.#log.info({ extAuthzProviders: providers }, 'mesh config read from the ConfigMap');
    return true;
  }
}
