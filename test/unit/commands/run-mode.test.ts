import { describe, expect, it } from 'vitest';
import { decideRunMode, istioLogLevel, resolveCaSettings, type CaSettingsInputs, type ModeInputs, type RunMode } from '../../../src/commands/run-mode.js';

const base: ModeInputs = { config: [], caAddressGiven: false, proxy: false, env: {} };

describe('decideRunMode', () => {
  it.each<[string, Partial<ModeInputs>, RunMode]>([
    ['nothing given: the built-in example with development certificates', {}, { config: 'example', certs: 'dev' }],
    ['--config and --certs: files', { config: ['mesh.yaml'], certs: 'certs/' }, { config: 'files', certs: 'files' }],
    ["--config and --ca-address: files, certificates from Istio's CA", { config: ['mesh.yaml'], caAddressGiven: true }, { config: 'files', certs: 'istio-ca' }],
    ['--kubeconfig: the Kubernetes API and the CA', { kubeconfig: 'kube.yaml' }, { config: 'kubernetes', certs: 'istio-ca' }],
    ['--kubeconfig with --certs: certificates from files', { kubeconfig: 'kube.yaml', certs: 'certs/' }, { config: 'kubernetes', certs: 'files' }],
    // KUBERNETES_SERVICE_HOST is only tested for presence here: never dialled.
    ['in a pod with no flags', { env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' } }, { config: 'kubernetes', certs: 'istio-ca' }], // never dialled
    ['in a pod with --config: files win', { env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, config: ['mesh.yaml'], certs: 'c' }, { config: 'files', certs: 'files' }], // never dialled
    ['in a pod with --config and no --certs: the CA', { env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, config: ['mesh.yaml'] }, { config: 'files', certs: 'istio-ca' }], // never dialled
    ['proxy waypoint: Kubernetes mode', { proxy: true }, { config: 'kubernetes', certs: 'istio-ca' }],
    ['proxy waypoint with WAYPOINT_CONFIG: files, still the CA', { proxy: true, config: ['mesh.yaml'] }, { config: 'files', certs: 'istio-ca' }],
  ])('%s', (_name, input, expected) => {
    expect(decideRunMode({ ...base, ...input })).toEqual(expected);
  });

  it.each<[string, Partial<ModeInputs>, RegExp]>([
    ['--certs alone', { certs: 'c' }, /--certs was given without --config/],
    ['--config alone', { config: ['m'] }, /--config was given without --certs.*--ca-address/],
    ['--ca-address with no configuration', { caAddressGiven: true }, /--ca-address was given without a configuration/],
  ])('refuses %s', (_name, input, message) => {
    expect(() => decideRunMode({ ...base, ...input })).toThrow(message);
  });
});

describe('resolveCaSettings', () => {
  it.each<[string, CaSettingsInputs, { caAddress: string; clusterId: string; certTtlSeconds: number }]>([
    ['defaults', { env: {} }, { caAddress: 'istiod.istio-system.svc:15012', clusterId: 'Kubernetes', certTtlSeconds: 86_400 }],
    ["istiod's template env", { env: { CA_ADDR: 'istiod.istio-system.svc:15012', ISTIO_META_CLUSTER_ID: 'east', SECRET_TTL: '12h' } }, { caAddress: 'istiod.istio-system.svc:15012', clusterId: 'east', certTtlSeconds: 43_200 }],
    ['flags over the env', { caAddress: '127.156.0.5:15012', clusterId: 'west', certTtl: '90s', env: { CA_ADDR: 'x:1', ISTIO_META_CLUSTER_ID: 'east', SECRET_TTL: '12h' } }, { caAddress: '127.156.0.5:15012', clusterId: 'west', certTtlSeconds: 90 }],
    ['blank env values are not set', { env: { CA_ADDR: ' ', SECRET_TTL: '' } }, { caAddress: 'istiod.istio-system.svc:15012', clusterId: 'Kubernetes', certTtlSeconds: 86_400 }],
  ])('%s', (_name, input, expected) => {
    expect(resolveCaSettings(input)).toEqual(expected);
  });

  it('names the flag of a bad lifetime', () => {
    expect(() => resolveCaSettings({ certTtl: '1 day', env: {} })).toThrow(/--cert-ttl: invalid duration "1 day"/);
  });
});

describe('istioLogLevel', () => {
  it.each<[string, string | undefined, string | undefined]>([
    ["the template's default:info", 'default:info', 'info'],
    ['warning is warn', 'default:warning', 'warn'],
    ['none is silent', 'default:none', 'silent'],
    ['other scopes do not matter', 'ads:debug,default:error,cache:debug', 'error'],
    ['a bare level applies to default', 'debug', 'debug'],
    ['no default scope', 'ads:debug', undefined],
    ['an unknown level', 'default:loud', undefined],
    ['not given', undefined, undefined],
  ])('%s', (_name, text, expected) => {
    expect(istioLogLevel(text)).toBe(expected);
  });
});
