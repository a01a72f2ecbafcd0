// `npm run build` step 2: the `waypoint` command as one minified ESM bundle in dist/bin/ (the
// `waypoint` bin, `npm start` and the container run it). Started this way the waypoint holds
// less memory: one script instead of ~300 module files, no comments or long names kept as
// source text. Commands and features loaded lazily with `await import()` stay separate chunks,
// loaded on first use as before. The library (`dist/src/index.js`) is the plain tsc output.
//
// Dependencies the start path needs are bundled; the ones loaded only by some configurations
// (gRPC, the Kubernetes client, undici, jose, the certificate issuers) stay external and are
// imported from node_modules at run time, as from the tsc output. Nothing is fetched at run time.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

const OUT = 'dist/bin';

/** Imported from node_modules at run time (lazily), not bundled. */
const EXTERNAL = ['@grpc/grpc-js', '@grpc/proto-loader', '@kubernetes/client-node', '@peculiar/x509', 'reflect-metadata', 'jose', 'node-forge', 'undici'];

rmSync(OUT, { recursive: true, force: true });
await build({
  entryPoints: { waypoint: 'src/cli.ts' },
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  // Stack traces keep function and class names.
  keepNames: true,
  sourcemap: true,
  legalComments: 'external',
  chunkNames: 'chunk-[hash]',
  external: EXTERNAL,
  // Bundled CommonJS packages call require(): give each chunk one.
  banner: { js: "import { createRequire as __waypointRequire } from 'node:module'; const require = __waypointRequire(import.meta.url);" },
  logLevel: 'warning',
});
