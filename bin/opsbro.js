#!/usr/bin/env node
// The `opsbro` command. `npm run build` (run by `npm ci` through `prepare`) compiles the CLI and
// agent to dist/ and bundles them into dist/bundle/ (build/bundle.mjs: fewer, smaller modules, a
// cheaper start); without the bundle, the compiled files run as they are.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/bundle/opsbro.js', import.meta.url);
await import(existsSync(bundle) ? bundle.href : '../dist/cli/main.js');
