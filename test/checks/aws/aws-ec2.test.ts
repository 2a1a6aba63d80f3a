// The aws_ec2 check: its SigV4 signer against AWS's published examples, then the check against a
// stand-in EC2 Query API (ec2-server.py) that verifies every signature with botocore's signer,
// independently of ours, and pages its answers two instances at a time: one item per instance,
// over every page.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import aws4 from 'aws4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckRunner } from '../../../agent/checks/check-type.js';
import { AWS_EC2_CHECK_TYPE } from '../../../agent/checks/types/aws-ec2.js';
import { describeWhenAvailable, notInstalled } from '../../helpers/requirements.js';
import { runService, SERVICE_DEPENDENCIES } from '../service-fixtures.js';

const EXAMPLE = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

describe('SigV4 signing (aws4), on AWS examples', () => {
  const signatureOf = (authorization: unknown) =>
    /Signature=([0-9a-f]{64})$/.exec(String(authorization))?.[1];

  it("the signing walkthrough's IAM ListUsers request", () => {
    const signed = aws4.sign(
      {
        host: 'iam.amazonaws.com',
        path: '/?Action=ListUsers&Version=2010-05-08',
        method: 'GET',
        service: 'iam',
        region: 'us-east-1',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
          'X-Amz-Date': '20150830T123600Z',
        },
      },
      EXAMPLE,
    );
    expect(signed.headers!.Authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
    );
  });

  it("the test suite's get-vanilla", () => {
    const signed = aws4.sign(
      {
        host: 'example.amazonaws.com',
        path: '/',
        method: 'GET',
        service: 'service',
        region: 'us-east-1',
        headers: { 'X-Amz-Date': '20150830T123600Z' },
      },
      EXAMPLE,
    );
    expect(signatureOf(signed.headers!.Authorization)).toBe(
      '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
  });
});

function botocoreMissing(): string | undefined {
  return spawnSync('/usr/bin/python3', ['-c', 'import botocore']).status === 0
    ? undefined
    : notInstalled("python3's botocore", 'python3-botocore');
}

const INSTANCES = [
  { id: 'i-01', state: 'running', tags: { Name: 'web-1', role: 'web' }, type: 't3.small', az: 'eu-west-1a' },
  { id: 'i-02', state: 'running', tags: { Name: 'web-2', role: 'web' }, type: 't3.small', az: 'eu-west-1b' },
  { id: 'i-03', state: 'stopped', tags: { Name: 'web-3', role: 'web' }, type: 't3.medium', az: 'eu-west-1c' },
  { id: 'i-04', state: 'pending', tags: { Name: 'db-1', role: 'db' }, type: 'r6g.large', az: 'eu-west-1a' },
  { id: 'i-05', state: 'terminated', tags: { role: 'batch' } },
  { id: 'i-06', state: 'stopping', tags: { Name: 'batch-1', role: 'batch' }, type: 'c6i.xlarge' },
  { id: 'i-07', state: 'shutting-down', tags: { Name: 'batch-2', role: 'batch' }, az: 'eu-west-1b' },
];

describeWhenAvailable('aws_ec2 check against a stand-in EC2 API', botocoreMissing(), () => {
  const KEY = 'AKIAOPSBROTEST',
    SECRET = 'secret/for+the+test';
  let server: ChildProcess;
  let endpoint = '';
  const requests: Array<{ ids: string[]; filters: Record<string, string[]>; next: string | null }> = [];
  const runners: CheckRunner[] = [];

  beforeAll(async () => {
    const script = fileURLToPath(new URL('./ec2-server.py', import.meta.url));
    server = spawn('/usr/bin/python3', [script, KEY, SECRET, 'eu-west-1', JSON.stringify(INSTANCES)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    endpoint = await new Promise<string>((resolve, reject) => {
      let seen = '';
      server.stdout!.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        const lines = seen.split('\n');
        seen = lines.pop()!;
        for (const line of lines) {
          if (/^\d+$/.test(line)) resolve(`http://127.0.0.1:${line}/`);
          else requests.push(JSON.parse(line) as (typeof requests)[number]);
        }
      });
      server.once('exit', (code) => reject(new Error(`ec2-server.py exited (${code})`)));
    });
  });
  afterAll(async () => {
    for (const runner of runners) await runner.close?.();
    server.kill();
  });

  const check = (body: Record<string, unknown>) => {
    const runner = AWS_EC2_CHECK_TYPE.create(
      {
        name: 'fleet',
        body: { region: 'eu-west-1', endpoint, access_key_id: KEY, secret_access_key: SECRET, ...body },
        packParameters: {},
      },
      SERVICE_DEPENDENCIES,
    );
    runners.push(runner);
    return runner;
  };

  it('reads every page of a filter, one line per instance, the worst state for the check', async () => {
    requests.splice(0);
    const result = await runService(check({ ec2_filters: { 'tag:role': 'web' } }));
    expect(result).toMatchObject({
      state: 'critical',
      output: 'aws_ec2 eu-west-1: 2 of 3 instances running; web-3 stopped',
      longOutput: [
        'OK: web-1 (i-01) is running',
        'OK: web-2 (i-02) is running',
        'CRITICAL: web-3 (i-03) is stopped',
      ].join('\n'),
    });
    expect(result.perfdata).toEqual([
      { label: 'instances', value: 3, uom: '' },
      { label: 'running', value: 2, uom: '' },
    ]);
    // One item per instance, over both pages: named from its Name tag, its id kept.
    expect(result.items).toEqual([
      { name: 'web-1', id: 'i-01', state: 'ok', output: 'i-01 is running, t3.small in eu-west-1a' },
      { name: 'web-2', id: 'i-02', state: 'ok', output: 'i-02 is running, t3.small in eu-west-1b' },
      { name: 'web-3', id: 'i-03', state: 'critical', output: 'i-03 is stopped, t3.medium in eu-west-1c' },
    ]);
    // The server logs each request on its stdout, a pipe that may be read after the answer came.
    await expect.poll(() => requests.length).toBe(2);
    expect(requests).toEqual([
      { ids: [], filters: { 'tag:role': ['web'] }, next: null },
      { ids: [], filters: { 'tag:role': ['web'] }, next: '2' },
    ]);
  });

  it('takes instance ids and several filter values: running OK, pending WARNING, terminated CRITICAL', async () => {
    expect((await runService(check({ ec2_instance_ids: ['i-01', 'i-02'] }))).state).toBe('ok');
    expect(await runService(check({ ec2_instance_ids: ['i-04'] }))).toMatchObject({
      state: 'warning',
      output: 'aws_ec2 eu-west-1: 0 of 1 instances running; db-1 pending',
    });
    const mixed = await runService(
      check({ ec2_filters: { 'instance-state-name': ['pending', 'terminated'] } }),
    );
    expect(mixed).toMatchObject({
      state: 'critical',
      longOutput: 'WARNING: db-1 (i-04) is pending\nCRITICAL: i-05 is terminated',
    });
    const none = await runService(check({ ec2_instance_ids: ['i-99'] }));
    expect(none).toMatchObject({ state: 'critical', output: 'aws_ec2 eu-west-1: no instance matches' });
    expect(none.items).toBeUndefined();
  });

  it('gives every state its item, over four pages: a name from the Name tag, else the id', async () => {
    requests.splice(0);
    const states = ['running', 'pending', 'stopping', 'stopped', 'shutting-down', 'terminated'];
    const result = await runService(check({ ec2_filters: { 'instance-state-name': states } }));
    // This check's own requests: the previous test's log lines may still be on their way.
    const mine = () => requests.filter((request) => request.filters['instance-state-name']?.length === 6);
    await expect.poll(() => mine().length).toBe(4);
    expect(mine().map((request) => request.next)).toEqual([null, '2', '4', '6']);
    expect(result.state).toBe('critical');
    expect(result.items).toEqual([
      { name: 'web-1', id: 'i-01', state: 'ok', output: 'i-01 is running, t3.small in eu-west-1a' },
      { name: 'web-2', id: 'i-02', state: 'ok', output: 'i-02 is running, t3.small in eu-west-1b' },
      { name: 'web-3', id: 'i-03', state: 'critical', output: 'i-03 is stopped, t3.medium in eu-west-1c' },
      { name: 'db-1', id: 'i-04', state: 'warning', output: 'i-04 is pending, r6g.large in eu-west-1a' },
      { name: 'i-05', state: 'critical', output: 'i-05 is terminated' },
      { name: 'batch-1', id: 'i-06', state: 'warning', output: 'i-06 is stopping, c6i.xlarge' },
      { name: 'batch-2', id: 'i-07', state: 'critical', output: 'i-07 is shutting-down in eu-west-1b' },
    ]);
    expect(result.output).toBe(
      'aws_ec2 eu-west-1: 2 of 7 instances running; web-3 stopped, db-1 pending, i-05 terminated, batch-1 stopping, batch-2 shutting-down',
    );
    // The long output keeps its line per instance.
    expect(result.longOutput!.split('\n')).toHaveLength(7);
  });

  it("is CRITICAL with EC2's error when the signature is refused, and refuses a definition it cannot run", async () => {
    expect(await runService(check({ ec2_instance_ids: ['i-01'], secret_access_key: 'wrong' }))).toMatchObject(
      {
        state: 'critical',
        output:
          'aws_ec2 eu-west-1: DescribeInstances: HTTP 401 AuthFailure: AWS was not able to validate the provided access credentials',
      },
    );
    expect(() => check({})).toThrow(/ec2_instance_ids: or ec2_filters: is required/);
    expect(() => check({ region: 'mars', ec2_instance_ids: ['i-01'] })).toThrow(
      /region: "mars" is not a region/,
    );
    expect(() =>
      check({ ec2_instance_ids: ['i-01'], access_key_id: undefined, secret_access_key: undefined }),
    ).toThrow(/access_key_id: and secret_access_key: are required/);
  });
});
