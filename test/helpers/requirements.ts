// What a suite needs from the machine beyond Node: a real server (redis-server, nginx, mariadbd,
// rabbitmq-server), rpm and rpmbuild, network namespaces. .ci/run installs all of it and runs the
// tests with CI=true: there a missing one fails the suite, naming the package, so a package install
// that failed quietly cannot leave CI green with a suite skipped. Outside CI (a developer's machine
// without, say, RabbitMQ) the suite is skipped, with the same message on the console.
import { spawnSync } from 'node:child_process';
import { describe, it } from 'vitest';

/** Whether this run is CI's (.ci/run exports CI=true; most CI services set it too). */
export const IN_CI = Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';

/**
 * describe(`name`, `body`) when `missing` is undefined. Otherwise `missing` says what is missing
 * and how to get it ("redis-server is not installed (apt-get install redis-server)"): in CI the
 * suite is one failing test with that message; elsewhere it is skipped and the message printed.
 */
export function describeWhenAvailable(name: string, missing: string | undefined, body: () => void): void {
  if (missing === undefined) {
    describe(name, body);
  } else if (IN_CI) {
    describe(name, () => {
      it('has what it needs on this machine', () => {
        throw new Error(
          `${missing}: required in CI (CI=${process.env.CI}); .ci/run installs it, did that fail?`,
        );
      });
    });
  } else {
    console.warn(`skipped: ${name}: ${missing}`);
    describe.skip(name, body);
  }
}

/** The message for a program that is not installed, with the Debian package that brings it. */
export function notInstalled(program: string, aptPackage: string): string {
  return `${program} is not installed (apt-get install ${aptPackage})`;
}

/** Why strace cannot show a child's system calls here, or undefined when it can. */
export function straceMissing(): string | undefined {
  const probe = spawnSync('strace', ['-o', '/dev/null', 'true']);
  if (probe.error) return notInstalled('strace', 'strace');
  if (probe.status !== 0)
    return `strace cannot trace here (ptrace not permitted): ${probe.stderr.toString().trim()}`;
  return undefined;
}
