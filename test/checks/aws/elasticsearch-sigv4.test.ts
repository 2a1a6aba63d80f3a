// The elasticsearch check signing with AWS SigV4 (Amazon OpenSearch Service), against a stand-in
// domain (es-server.py) that answers _cluster/health only when botocore's own signer, independently
// of ours, reproduces the request's signature for service `es`: the right keys read the health, the
// wrong ones are refused (403) and said so, never showing a secret.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CheckRunner } from '../../../agent/checks/check-type.js';
import { ELASTICSEARCH_CHECK_TYPE } from '../../../agent/checks/types/elasticsearch.js';
import { describeWhenAvailable, notInstalled } from '../../helpers/requirements.js';
import { runService, SERVICE_DEPENDENCIES } from '../service-fixtures.js';

function botocoreMissing(): string | undefined {
  return spawnSync('/usr/bin/python3', ['-c', 'import botocore']).status === 0
    ? undefined
    : notInstalled("python3's botocore", 'python3-botocore');
}

const KEY = 'AKIAOPSBROESTEST';
const SECRET = 'es-secret/for+the+test';
const TOKEN = 'session-token-for-the-test';
const HEALTH = {
  cluster_name: '123456789012:logs',
  status: 'green',
  number_of_nodes: 3,
  number_of_data_nodes: 3,
  active_shards: 20,
  relocating_shards: 0,
  initializing_shards: 0,
  unassigned_shards: 0,
  active_shards_percent_as_number: 100,
};

interface Logged {
  path: string;
  verified: boolean;
  signed: string[];
}

interface Domain {
  process: ChildProcess;
  url: string;
  requests: Logged[];
}

/** es-server.py on an ephemeral port: its URL once it listens, and its log of requests. */
async function domain(sessionToken?: string): Promise<Domain> {
  const script = fileURLToPath(new URL('./es-server.py', import.meta.url));
  const child = spawn(
    '/usr/bin/python3',
    [script, KEY, SECRET, 'eu-west-1', JSON.stringify(HEALTH), ...(sessionToken ? [sessionToken] : [])],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const requests: Logged[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    child.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const lines = seen.split('\n');
      seen = lines.pop()!;
      for (const line of lines) {
        if (/^\d+$/.test(line)) resolve(`http://127.0.0.1:${line}`);
        else requests.push(JSON.parse(line) as Logged);
      }
    });
    child.once('exit', (code) => reject(new Error(`es-server.py exited (${code})`)));
  });
  return { process: child, url, requests };
}

describeWhenAvailable(
  'elasticsearch check with AWS SigV4, against a stand-in domain',
  botocoreMissing(),
  () => {
    let plain: Domain;
    let withToken: Domain;
    const runners: CheckRunner[] = [];

    beforeAll(async () => {
      [plain, withToken] = await Promise.all([domain(), domain(TOKEN)]);
    });
    afterAll(async () => {
      for (const runner of runners) await runner.close?.();
      plain?.process.kill();
      withToken?.process.kill();
    });

    const check = (body: Record<string, unknown>) => {
      const runner = ELASTICSEARCH_CHECK_TYPE.create(
        {
          name: 'logs',
          body: {
            url: plain.url,
            aws_region: 'eu-west-1',
            aws_access_key_id: KEY,
            aws_secret_access_key: SECRET,
            ...body,
          },
          packParameters: {},
        },
        SERVICE_DEPENDENCIES,
      );
      runners.push(runner);
      return runner;
    };

    it('reads the health with the right keys, each request signed anew (host and date signed)', async () => {
      const runner = check({});
      for (let run = 0; run < 2; run++) {
        const result = await runService(runner);
        expect(result).toMatchObject({
          state: 'ok',
          output: `elasticsearch ${plain.url} cluster "123456789012:logs" is green: 3 nodes, 20 active shards, 0 unassigned`,
        });
        expect(result.perfdata).toContainEqual({ label: 'nodes', value: 3, uom: '' });
      }
      await expect.poll(() => plain.requests.length).toBe(2);
      for (const request of plain.requests) {
        expect(request).toMatchObject({ path: '/_cluster/health', verified: true });
        expect(request.signed).toEqual(expect.arrayContaining(['host', 'x-amz-date']));
      }
    });

    it('signs the session token when given: without it, the domain refuses', async () => {
      expect(
        await runService(check({ url: withToken.url, aws_session_token: TOKEN, aws_service: 'es' })),
      ).toMatchObject({ state: 'ok' });
      const refused = await runService(check({ url: withToken.url }));
      expect(refused.state).toBe('unknown');
      expect(refused.output).toContain(
        'HTTP 403 ({"message": "The security token included in the request is invalid."})',
      );
      await expect.poll(() => withToken.requests.length).toBe(2);
      expect(withToken.requests[0]!.signed).toContain('x-amz-security-token');
    });

    it('is UNKNOWN, saying AWS refused it, with a wrong secret, region or service; no secret shown', async () => {
      const wrongSecret = 'wrong/secret+value';
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ aws_secret_access_key: wrongSecret }, 'The request signature we calculated does not match'],
        [{ aws_region: 'us-east-1' }, 'The request signature we calculated does not match'],
        [{ aws_service: 'opensearch' }, 'The request signature we calculated does not match'],
        [{ aws_access_key_id: 'AKIAUNKNOWN' }, 'The security token included in the request is invalid.'],
      ];
      for (const [body, said] of cases) {
        const result = await runService(check(body));
        expect(result.state).toBe('unknown');
        expect(result.output).toMatch(
          new RegExp(`^elasticsearch ${plain.url.replace(/\./g, '\\.')}: HTTP 403 \\(`),
        );
        expect(result.output).toContain(said);
        expect(result.output).toContain(
          ': AWS refused the signed request (wrong aws_access_key_id or aws_secret_access_key',
        );
        const shown = JSON.stringify(result);
        expect(shown).not.toContain(SECRET);
        expect(shown).not.toContain(wrongSecret);
      }
    });

    it('a domain that does not answer is CRITICAL, as without SigV4', async () => {
      const result = await runService(check({ url: 'http://127.0.0.1:1' }));
      expect(result.state).toBe('critical');
      expect(result.output).toMatch(/^elasticsearch http:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/);
      expect(result.output).not.toContain(SECRET);
    });

    it('refuses a definition it cannot run, clearly', () => {
      expect(() => check({ username: 'elastic', password: 'pw' })).toThrow(
        'username:/password: (basic auth) and aws_region: (AWS SigV4) exclude each other',
      );
      expect(() => check({ aws_region: undefined })).toThrow(
        'aws_access_key_id: signs with AWS SigV4, which needs aws_region:',
      );
      expect(() => check({ aws_region: 'mars' })).toThrow('aws_region: "mars" is not a region');
      expect(() => check({ aws_secret_access_key: undefined })).toThrow(
        'aws_access_key_id: and aws_secret_access_key: go together',
      );
      expect(() => check({ aws_service: 'E S' })).toThrow('aws_service: "E S" is not a service name');
    });
  },
);
