// Default locations: the package's own folders (embedded defaults, packs) and the data dir.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/** The installed package's root (holds package.json, etc/, packs/, templates/), from dist/ or sources. */
export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'opsbro'
    ) {
      return (cachedRoot = dir);
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the opsbro package root (package.json)');
    dir = parent;
  }
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string })
    .version;
}

/** /etc/opsbro when it exists, else the package's embedded defaults in etc/. */
export function defaultConfigDir(): string {
  return existsSync('/etc/opsbro') ? '/etc/opsbro' : join(packageRoot(), 'etc');
}

/** /var/lib/opsbro as root; otherwise $XDG_DATA_HOME/opsbro or ~/.local/share/opsbro. */
export function defaultDataDir(): string {
  if (process.getuid?.() === 0) return '/var/lib/opsbro';
  const dataHome = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(dataHome, 'opsbro');
}
