// An agent's start compiles no schema at run time: the built agent (dist/bundle, as `npm ci`
// builds it) starts with the shipped packs (detectors, collectors, evaluated checks) and one check
// of every other check type, and its debug log lists the validators of the start: every one must
// have been generated at build time (START_SCHEMAS in agent/main.ts, build/validators.mjs). A
// schema added to the start but not to START_SCHEMAS is compiled at run time (the ~24 of a start
// cost ~0.5 s of CPU compiled) and fails this test. Every address is on loopback, at a port
// nothing listens on.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHECK_TYPES } from '../../agent/checks/index.js';
import { GENERATED_VALIDATORS_FILE } from '../../agent/shared/precompiled-validators.js';
import { cleanupAll, httpGet, prepareAgentDirs, REPO_ROOT, startAgent } from '../helpers/agent-process.js';

afterAll(cleanupAll);

const CLOSED = 'http://127.0.0.1:9';
/** One check of each type beside the evaluated ones the packs ship (hourly: at most one run). */
const CHECKS: Record<string, string> = {
  script: 'script: "/bin/true"',
  http: `url: "${CLOSED}/"`,
  elasticsearch: `url: "${CLOSED}"`,
  kubernetes: `server: "https://127.0.0.1:9", token: "t"`,
  mongodb: 'hosts: ["127.0.0.1:9"]',
  json_status: `url: "${CLOSED}/status"`,
  aws_ec2: `region: eu-west-1, endpoint: "${CLOSED}/", access_key_id: AKIDEXAMPLE, secret_access_key: "s", ec2_instance_ids: [i-0abc]`,
  celery: 'broker: "amqp://monitor:pw@127.0.0.1:9/"',
};

interface LogLine {
  msg?: string;
  generated_file?: boolean;
  generated_used?: number;
  compiled_at_run_time?: string[];
}

describe("an agent's start", () => {
  it('uses a validator generated at build time for every schema it checks', async () => {
    expect(existsSync(join(REPO_ROOT, 'dist', 'bundle', GENERATED_VALIDATORS_FILE)), 'npm run build').toBe(
      true,
    );
    // Every type but the evaluated one (the packs' checks) is listed above.
    expect([...CHECK_TYPES.keys()].sort()).toEqual([...Object.keys(CHECKS), 'evaluated'].sort());
    const dirs = await prepareAgentDirs('log:\n  level: debug\n  format: json\n');
    for (const [type, keys] of Object.entries(CHECKS))
      writeFileSync(
        join(dirs.configDir, 'conf.d', `every-${type}.yml`),
        `check: {name: every-${type}, type: ${type}, interval: 1h, ${keys}}\n`,
      );
    const agent = await startAgent(dirs);
    const startLine = (): LogLine | undefined =>
      agent
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as LogLine)
        .find((line) => line.msg === 'validators of the start');
    await expect.poll(startLine, { timeout: 10_000 }).toBeDefined();
    const validators = startLine()!;
    expect(validators.generated_file).toBe(true);
    // Settings, manifests, every definition kind and every check type's settings at least.
    expect(validators.generated_used).toBeGreaterThanOrEqual(20);
    expect(validators.compiled_at_run_time).toEqual([]);
    // The checks above were made (their types' settings checked) by this start.
    for (const type of Object.keys(CHECKS))
      expect(
        (await httpGet(`http://127.0.0.1:${dirs.port}/monitoring/checks/every-${type}`)).status,
        type,
      ).toBe(200);
    agent.process.kill('SIGTERM');
    await agent.exited;
  });
});
