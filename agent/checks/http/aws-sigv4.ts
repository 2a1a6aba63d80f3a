// AWS Signature Version 4 for the checks that ask AWS APIs (aws_ec2, elasticsearch behind Amazon
// OpenSearch Service): which keys a check takes, and one request's signed headers. The signer is
// `aws4` (one file, no dependencies; see agent/checks/types/aws-ec2.ts for why not the AWS SDK),
// loaded at the first signature, not at the agent's start.

/** An AWS region's name: eu-west-1, us-gov-west-1, ap-southeast-2 ... */
export const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The keys a check gave, and their names in its definition (for the error messages). */
export interface AwsKeys {
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  names: { accessKeyId: string; secretAccessKey: string };
}

/**
 * The credentials from a check's keys, else from the agent's environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, and AWS_SESSION_TOKEN with them); throws, naming the keys, when neither
 * gives both.
 */
export function awsCredentials(keys: AwsKeys): AwsCredentials {
  const { names } = keys;
  if ((keys.accessKeyId === undefined) !== (keys.secretAccessKey === undefined))
    throw new Error(`${names.accessKeyId}: and ${names.secretAccessKey}: go together`);
  const fromEnvironment = keys.accessKeyId === undefined;
  const accessKeyId = keys.accessKeyId ?? process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = keys.secretAccessKey ?? process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey)
    throw new Error(
      `${names.accessKeyId}: and ${names.secretAccessKey}: are required (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the agent's environment)`,
    );
  const sessionToken = keys.sessionToken ?? (fromEnvironment ? process.env.AWS_SESSION_TOKEN : undefined);
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** What one request is: signed as it will be sent. */
export interface AwsRequest {
  url: URL;
  method: string;
  service: string;
  region: string;
  body?: string;
  headers?: Record<string, string>;
}

/**
 * The headers that sign `request` now (host, x-amz-date, authorization, x-amz-security-token and
 * the given ones), names in lower case: a signature holds for a few minutes, so sign each request.
 */
export async function awsSignedHeaders(
  request: AwsRequest,
  credentials: AwsCredentials,
): Promise<Record<string, string>> {
  // aws4 is CommonJS: its functions hang off the default export.
  const { sign } = (await import('aws4')).default;
  const signed = sign(
    {
      host: request.url.host,
      path: `${request.url.pathname}${request.url.search}`,
      method: request.method,
      service: request.service,
      region: request.region,
      ...(request.body !== undefined ? { body: request.body } : {}),
      headers: { ...request.headers },
    },
    // A copy: aws4 reads the environment for a key that is missing, never here.
    { ...credentials },
  );
  return Object.fromEntries(
    Object.entries(signed.headers ?? {}).flatMap(([name, value]) =>
      value === undefined ? [] : [[name.toLowerCase(), String(value)]],
    ),
  );
}
