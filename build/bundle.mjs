// Bundles the compiled CLI and agent (dist/cli, dist/agent) into dist/bundle/ with esbuild: a few
// minified ES modules instead of ~1,450 files. An agent then loads fewer, smaller sources: less
// memory held by module records and source text, and less CPU in Node's module loader at every
// start (docs/benchmarks.md, "Footprint"). Dynamic imports stay lazy (chunks of their own), so a
// CLI call loads the CLI and not the agent.
//
// bin/opsbro.js runs dist/bundle/opsbro.js when it exists and dist/cli/main.js otherwise.
// Packages with native addons or optional native requires stay outside, loaded from node_modules.
import { build } from 'esbuild';
import { copyFileSync, existsSync, rmSync } from 'node:fs';

const outdir = 'dist/bundle';
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: {
    opsbro: 'dist/cli/main.js',
    // Spawned by path by the store (agent/store/errors.ts), next to the chunk that spawns it.
    'repair-main': 'dist/agent/store/repair-main.js',
  },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  minify: true,
  // Names of chunks stable enough to read in a stack trace.
  chunkNames: 'chunk-[hash]',
  external: [
    // Native addon (node-gyp-build finds its .node file relative to the package).
    'classic-level',
    // Imported lazily (await import()), by the checks and collectors that use them and by the first
    // scrape of /metrics: nothing to gain at idle, and Node's own CommonJS interop stays the one
    // in use (esbuild's differs: prom-client's classes came out undefined through it).
    'mongodb',
    'mysql2',
    'amqplib',
    'undici',
    'prom-client',
    'aws4',
    'fast-xml-parser',
  ],
  // CommonJS packages inside an ES module still call require() for Node's built-ins.
  banner: {
    js: "import { createRequire as __opsbroRequire } from 'node:module'; const require = __opsbroRequire(import.meta.url);",
  },
  logLevel: 'warning',
});

// The validators build/validators.mjs generated, next to the chunk that reads them
// (agent/shared/precompiled-validators.ts).
const validators = 'dist/agent/shared/validators.generated.cjs';
if (existsSync(validators)) copyFileSync(validators, `${outdir}/validators.generated.cjs`);
