#!/usr/bin/env node
// The `opsbro` command. The CLI is compiled to dist/ by `npm run build` (run by `npm ci` through `prepare`).
import '../dist/cli/main.js';
