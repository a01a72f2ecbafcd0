/**
 * The structure gate (`npm run deps`): which part of src may import which.
 *
 * The parts and their arrows (each only points down):
 *   config → routes, policy → snapshot → l7 → hbone, metrics
 * with admin, testkit, commands, cli.ts, index.ts and waypoint.ts wiring them together.
 * Type-only imports count: a part that needs another part's types depends on that part.
 */

/** Node modules that do I/O: pure decision code must not reach for them. */
const IO_MODULES = '^(node:)?(fs|fs/promises|net|http|https|http2|tls|dgram|child_process)$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'Import cycle: modules that import each other cannot be read, tested or loaded on their own. Move the shared piece into the lower part.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'config-imports-nothing-else',
      severity: 'error',
      comment: 'src/config holds raw resources, schemas and loading; it is the bottom part and imports nothing else in src.',
      from: { path: '^src/config/' },
      to: { path: '^src/', pathNot: '^src/config/' },
    },
    {
      name: 'routes-policy-import-only-config',
      severity: 'error',
      comment: 'src/routes and src/policy are pure compilers and matchers: they import only src/config (and themselves).',
      from: { path: '^src/(routes|policy)/' },
      to: { path: '^src/', pathNot: '^src/(config|$1)/' },
    },
    {
      name: 'snapshot-imports-config-routes-policy',
      severity: 'error',
      comment: 'src/snapshot compiles config with routes and policy and swaps the result; it imports nothing above those.',
      from: { path: '^src/snapshot/' },
      to: { path: '^src/', pathNot: '^src/(config|routes|policy|snapshot)/' },
    },
    {
      name: 'hbone-knows-no-l7',
      severity: 'error',
      comment: 'src/hbone is the transport (TLS, CONNECT in and out): it must not know L7, routing, policy, snapshots, admin, commands, the test kit or metrics.',
      from: { path: '^src/hbone/' },
      to: { path: '^src/(l7|routes|policy|snapshot|admin|commands|testkit|metrics)/' },
    },
    {
      name: 'metrics-imports-only-config',
      severity: 'error',
      comment: 'src/metrics (labels, access log, Istio metrics) imports only src/config (and itself); callers hand it what to record.',
      from: { path: '^src/metrics/' },
      to: { path: '^src/', pathNot: '^src/(config|metrics)/' },
    },
    {
      name: 'l7-not-to-wiring',
      severity: 'error',
      comment: 'src/l7 is the data path: it must not import admin, commands or the test kit (they import it).',
      from: { path: '^src/l7/' },
      to: { path: '^src/(admin|commands|testkit)/' },
    },
    {
      name: 'src-not-to-test-or-bench',
      severity: 'error',
      comment: 'Shipped code (src) must not import tests, test helpers or benchmarks: they are not in the package.',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'testkit-only-from-cli-commands-index',
      severity: 'error',
      comment: 'The test kit (src/testkit) is for tests, the demo and library users: only src/cli.ts, src/commands and src/index.ts may import it.',
      from: { path: '^src/', pathNot: '^src/(cli\\.ts|index\\.ts|commands/|testkit/)' },
      to: { path: '^src/testkit/' },
    },
    {
      name: 'routes-policy-no-io',
      severity: 'error',
      comment: 'src/routes and src/policy are pure decisions: no file, socket, HTTP, TLS or process I/O modules.',
      from: { path: '^src/(routes|policy)/' },
      to: { dependencyTypes: ['core'], path: IO_MODULES },
    },
    {
      name: 'config-io-only-in-loading',
      severity: 'error',
      comment: 'In src/config only the loading and source files (load.ts, files.ts, file-source.ts, kube/) do I/O; schemas, kinds and the mesh model stay pure.',
      from: { path: '^src/config/', pathNot: '^src/config/((load|files|file-source)\\.ts$|kube/)' },
      to: { dependencyTypes: ['core'], path: IO_MODULES },
    },
    {
      name: 'src-not-to-dev-dependencies',
      severity: 'error',
      comment: 'Shipped code imports a devDependency, which a user installing the package does not get: move it to dependencies or out of src.',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'no-unlisted-packages',
      severity: 'error',
      comment: 'Import of a package not listed in package.json: it works only by accident of hoisting.',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'Import that resolves to no file.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
    // Count `import type` too: a type-only dependency still ties the parts together.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.test.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
