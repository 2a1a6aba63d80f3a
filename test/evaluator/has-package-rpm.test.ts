// has_package on an RPM root: a real rpm database, made by Debian's rpm and rpmbuild (installed by
// .ci/run) under a temporary root, with a package built by the test and registered in it. The
// evaluator must answer from it, never pass a name through a shell or as an rpm option, and see a
// package removed after it cached the answer.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Evaluator } from '../../agent/evaluator/index.js';
import { fakeProviders, fixtureRoot, removeFixtureRoots } from './helpers.js';

afterAll(removeFixtureRoots);

import { describeWhenAvailable, notInstalled } from '../helpers/requirements.js';
const PACKAGE = 'opsbro-fixture';
const DB = '/var/lib/rpm';

function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const missing = ['rpm', 'rpmbuild'].filter((command) => !hasCommand(command));

/** Until a file written now gets an mtime later than every file's in `dir` (ns, as the cache compares them). */
async function newMtimeTick(dir: string): Promise<void> {
  const latest = readdirSync(dir)
    .map((name) => statSync(join(dir, name), { bigint: true }).mtimeNs)
    .reduce((a, b) => (a > b ? a : b), 0n);
  const probe = join(fixtureRoot(), 'mtime-probe');
  await expect
    .poll(() => {
      writeFileSync(probe, '');
      return statSync(probe, { bigint: true }).mtimeNs > latest;
    })
    .toBe(true);
}

/** rpm on the fixture root, with the database where RHEL 7/8 keep it. */
function rpm(root: string, ...args: string[]): void {
  execFileSync('rpm', ['--root', root, '--dbpath', DB, ...args], { stdio: 'pipe' });
}

/** A root with an rpm database holding one empty noarch package, `opsbro-fixture`. */
function rpmRoot(): string {
  const work = fixtureRoot();
  const topdir = join(work, 'build');
  const root = join(work, 'root');
  mkdirSync(root, { recursive: true });
  const spec = join(work, `${PACKAGE}.spec`);
  writeFileSync(
    spec,
    [
      `Name: ${PACKAGE}`,
      'Version: 1.0',
      'Release: 1',
      'Summary: opsbro test fixture',
      'License: MIT',
      'BuildArch: noarch',
      '%description',
      'An empty package for the has_package tests.',
      '%files',
      '',
    ].join('\n'),
  );
  execFileSync('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${topdir}`, spec], { stdio: 'pipe' });
  const dir = join(topdir, 'RPMS', 'noarch');
  const built = join(
    dir,
    readdirSync(dir).find((file) => file.endsWith('.rpm'))!,
  );
  rpm(root, '--initdb');
  rpm(root, '-i', '--nodeps', '--justdb', '--noscripts', built);
  return root;
}

describeWhenAvailable(
  'has_package on an RPM system',
  missing.length ? notInstalled(missing.join(' and '), 'rpm') : undefined,
  () => {
    const root = missing.length ? '' : rpmRoot();
    const evaluator = new Evaluator(fakeProviders({ root }));

    it('answers from the rpm database', async () => {
      expect(await evaluator.evaluate(`has_package('${PACKAGE}')`)).toBe(true);
      expect(await evaluator.evaluate("has_package('bash')")).toBe(false);
      expect(await evaluator.evaluate(`has_package('${PACKAGE}-1.0-1')`)).toBe(true);
    });

    it('never hands a name to a shell nor to rpm as an option', async () => {
      const marker = join(root, 'injected');
      for (const name of [`${PACKAGE}; touch ${marker}`, `$(touch ${marker})`, '-qa', '--eval=x']) {
        expect(await evaluator.evaluate(`has_package('${name}')`)).toBe(false);
      }
      expect(readdirSync(root)).not.toContain('injected');
    });

    it('reports a database rpm cannot open, instead of answering False', async () => {
      const broken = fixtureRoot({ [`${DB}/rpmdb.sqlite`]: 'not a database' });
      const onBroken = new Evaluator(fakeProviders({ root: broken }));
      await expect(onBroken.evaluate(`has_package('${PACKAGE}')`)).rejects.toThrow(
        /rpm -q .* failed: error:/,
      );
    });

    it('sees a package removed after an answer was cached', async () => {
      expect(await evaluator.evaluate(`has_package('${PACKAGE}')`)).toBe(true);
      // The cache is keyed on the database files' mtime and size. The kernel stamps mtimes from a
      // coarse clock (a few ms a tick): wait until a file written now gets a later mtime than the
      // database's, so the removal below cannot land in the tick of the database's last write.
      await newMtimeTick(join(root, DB));
      rpm(root, '-e', '--nodeps', '--justdb', '--noscripts', PACKAGE);
      expect(await evaluator.evaluate(`has_package('${PACKAGE}')`)).toBe(false);
    });
  },
);
