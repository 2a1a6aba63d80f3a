// The piece of a kubeconfig file the kubernetes check needs: for a context (the current one by
// default), its cluster's server and CA, and its user's token or client certificate. Files a
// kubeconfig names (certificate-authority, client-certificate...) are read relative to it.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';

export interface KubernetesAccess {
  server: string;
  ca?: string;
  token?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
}

interface Named {
  name?: string;
  [field: string]: unknown;
}

export function kubeconfigAccess(path: string, contextName?: string): KubernetesAccess {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(
      `kubeconfig: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      {
        cause: error,
      },
    );
  }
  let config: Record<string, unknown>;
  try {
    config = (parse(text) ?? {}) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`kubeconfig: ${path} is not YAML: ${(error as Error).message}`, { cause: error });
  }
  const wanted =
    contextName ?? (typeof config['current-context'] === 'string' ? config['current-context'] : undefined);
  if (!wanted) throw new Error(`kubeconfig: ${path} has no current-context: give context:`);
  const context = entry(config.contexts, wanted, 'context', path);
  const clusterName = typeof context.cluster === 'string' ? context.cluster : '';
  const userName = typeof context.user === 'string' ? context.user : '';
  const cluster = entry(config.clusters, clusterName, 'cluster', path);
  const user = userName ? entry(config.users, userName, 'user', path) : {};
  if (typeof cluster.server !== 'string') throw new Error(`kubeconfig: cluster ${clusterName} has no server`);
  const base = dirname(path);
  const fileOrData = (data: unknown, file: unknown): string | undefined => {
    if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64').toString('utf8');
    if (typeof file === 'string' && file !== '') return readFileSync(resolve(base, file), 'utf8');
    return undefined;
  };
  const access: KubernetesAccess = { server: cluster.server };
  const ca = fileOrData(cluster['certificate-authority-data'], cluster['certificate-authority']);
  if (ca !== undefined) access.ca = ca;
  if (cluster['insecure-skip-tls-verify'] === true) access.insecure = true;
  if (typeof user.token === 'string') access.token = user.token;
  const cert = fileOrData(user['client-certificate-data'], user['client-certificate']);
  const key = fileOrData(user['client-key-data'], user['client-key']);
  if (cert !== undefined && key !== undefined) {
    access.cert = cert;
    access.key = key;
  }
  return access;
}

/** The `kind` named `name` in a kubeconfig list (`contexts: [{name, context: {...}}]`). */
function entry(list: unknown, name: string, kind: string, path: string): Record<string, unknown> {
  const found = Array.isArray(list) ? (list as Named[]).find((item) => item?.name === name) : undefined;
  const value = found?.[kind];
  if (value === null || typeof value !== 'object')
    throw new Error(`kubeconfig: ${path} has no ${kind} named ${JSON.stringify(name)}`);
  return value as Record<string, unknown>;
}
