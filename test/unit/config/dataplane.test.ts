import { describe, expect, it } from 'vitest';
import { reachedByHbone, type AmbientDetection } from '../../../src/config/dataplane.js';

const ENABLED = { 'ambient.istio.io/redirection': 'enabled' };
const DISABLED = { 'ambient.istio.io/redirection': 'disabled' };
const NONE = { 'istio.io/dataplane-mode': 'none' };
const AMBIENT = { 'istio.io/dataplane-mode': 'ambient' };

describe('reachedByHbone: HBONE or plain TCP to a destination Pod', () => {
  it.each<[string, AmbientDetection, Record<string, string>, Record<string, string>, Record<string, string>, boolean]>([
    ['kubernetes: annotated enabled by the CNI', 'kubernetes', ENABLED, {}, {}, true],
    ['kubernetes: no annotation (not captured)', 'kubernetes', {}, {}, {}, false],
    ['kubernetes: namespace labelled ambient but the Pod not annotated yet', 'kubernetes', {}, {}, AMBIENT, false],
    ['kubernetes: annotated disabled', 'kubernetes', DISABLED, {}, {}, false],
    ['file: no annotation, no labels (default HBONE)', 'file', {}, {}, {}, true],
    ['file: annotated disabled', 'file', DISABLED, {}, {}, false],
    ['file: Pod labelled dataplane-mode none', 'file', {}, NONE, {}, false],
    ['file: namespace labelled dataplane-mode none', 'file', {}, {}, NONE, false],
    ['file: Pod labelled ambient in a none namespace', 'file', {}, AMBIENT, NONE, true],
    ['file: annotated enabled', 'file', ENABLED, {}, {}, true],
  ])('%s', (_name, mode, annotations, labels, namespaceLabels, expected) => {
    expect(reachedByHbone(mode, { annotations, labels, namespaceLabels })).toBe(expected);
  });
});
