// has_package on RPM systems (RHEL, CentOS, Fedora, SUSE). The rpm database is a binary store
// (sqlite, Berkeley DB or ndb depending on the release) that only librpm reads reliably, so this asks
// the `rpm` command, without a shell: `rpm --root ROOT --dbpath DIR -q --quiet NAME`. A detector asks
// the same question every interval, so each answer is kept until the database file changes (its
// mtime and size: two stats per call once the database was found) and rpm runs only after a package
// was installed or removed.
import { execFile } from 'node:child_process';
import { posix } from 'node:path';
import type { HostAccess } from '../host/host-access.js';
import type { EvaluatorHostPaths } from '../providers.js';
import { fileVersion, hostPath } from './host-files.js';

/** Where the database lives, relative to the root: RHEL 9 / Fedora first (/var/lib/rpm links there). */
const RPM_DB_DIRS = ['/usr/lib/sysimage/rpm', '/var/lib/rpm'];
/** sqlite (RHEL 9+, Fedora 33+), Berkeley DB (RHEL 7/8), ndb (SUSE). */
const RPM_DB_FILES = ['rpmdb.sqlite', 'Packages', 'Packages.db'];
const RPM_TIMEOUT_MS = 5000;
/** What rpm accepts as a package name (and name-version); anything else cannot be installed. */
const PACKAGE_NAME = /^[A-Za-z0-9_+][A-Za-z0-9._+~^:-]*$/;
const MAX_CACHED = 1000;

interface RpmDatabase {
  /** The --dbpath argument, relative to the root. */
  dir: string;
  /** The database file, under the root. */
  file: string;
}

/** Where each root's database was found: probed again only when it is gone. */
const databases = new Map<string, RpmDatabase>();
const answers = new Map<string, { version: string; installed: boolean }>();

/** The rpm database under the root, or undefined when this is not an RPM system. */
async function findDatabase(host: HostAccess, paths: EvaluatorHostPaths): Promise<RpmDatabase | undefined> {
  for (const dir of RPM_DB_DIRS) {
    for (const name of RPM_DB_FILES) {
      const file = hostPath(paths, posix.join(dir, name));
      if ((await host.stat(file, true))?.isFile()) return { dir, file };
    }
  }
  return undefined;
}

/** The database's version, or undefined when it is gone; sqlite's write-ahead log counts too. */
async function versionOf(host: HostAccess, database: RpmDatabase): Promise<string | undefined> {
  const main = await host.stat(database.file, true);
  if (!main?.isFile()) return undefined;
  return `${database.file}:${fileVersion(main)}/${fileVersion(await host.stat(`${database.file}-wal`, true))}`;
}

/** Exit status of `rpm -q --quiet`: 0 installed, 1 not installed; anything else is an error. */
function queryRpm(root: string, dbDir: string, name: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const args = ['--root', root, '--dbpath', dbDir, '-q', '--quiet', name];
    execFile('rpm', args, { timeout: RPM_TIMEOUT_MS, windowsHide: true }, (error, _stdout, stderr) => {
      if (!error) return resolve(true);
      // Exit 1 is also how rpm fails to open its database: only a quiet one means "not installed"
      // (warnings, such as a database backend being converted, do not count).
      const problems = String(stderr)
        .split('\n')
        .filter((line) => line.trim() && !line.startsWith('warning:'));
      if (error.code === 1 && problems.length === 0) return resolve(false);
      if (error.code === 'ENOENT')
        return reject(
          new Error(`an rpm database is under ${root}${dbDir}, but the rpm command is not installed`),
        );
      const why = error.killed
        ? `timed out after ${RPM_TIMEOUT_MS / 1000} s`
        : problems.join('; ') || error.message;
      reject(new Error(`rpm -q ${name} failed: ${why}`));
    });
  });
}

/** Whether `name` is installed per the rpm database under the root; undefined when there is none. */
export async function rpmHas(
  host: HostAccess,
  paths: EvaluatorHostPaths,
  name: string,
): Promise<boolean | undefined> {
  if (!PACKAGE_NAME.test(name)) return false; // not a package name: installed nowhere, rpm not asked
  let database = databases.get(paths.root);
  let version = database && (await versionOf(host, database));
  if (!database || !version) {
    database = await findDatabase(host, paths);
    version = database && (await versionOf(host, database));
    if (!database || !version) return undefined;
    databases.set(paths.root, database);
  }
  const key = `${paths.root}\0${name}`;
  const known = answers.get(key);
  if (known?.version === version) return known.installed;
  const installed = await queryRpm(paths.root, database.dir, name);
  if (answers.size >= MAX_CACHED) answers.clear();
  answers.set(key, { version, installed });
  return installed;
}
