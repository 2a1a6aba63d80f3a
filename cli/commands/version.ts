// `opsbro version`: this command's version, Node's and the platform's, and the version of the agent
// it talks to when one answers within a second (none answering is not an error).
import { Command } from 'commander';
import type { AgentInfo } from '../../agent/shared/api-types.js';
import { packageVersion } from '../../agent/shared/paths.js';
import { type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient } from '../client.js';
import { colour, keyValues, printJson } from '../output.js';

const AGENT_TIMEOUT_MS = 1000;

/** The package's version (its package.json). */
export const cliVersion = packageVersion;

export function versionCommand(): Command {
  return withJson(
    withApiOptions(new Command('version').description('versions of this command, Node and the agent')),
  ).action(async (options: ReadOptions) => {
    const client = new AgentClient(options);
    let agent: { version: string; name: string; api: string } | null = null;
    try {
      const info = await client.call<AgentInfo>('GET', '/agent/info', undefined, AGENT_TIMEOUT_MS);
      agent = { version: info.version, name: info.name, api: client.target };
    } catch {
      // No agent here: the command's own version is still the answer.
    }
    const version = {
      version: cliVersion(),
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      agent,
    };
    if (options.json) return printJson(version);
    process.stdout.write(
      keyValues([
        ['opsbro', version.version],
        ['node', `${version.node} (${version.platform} ${version.arch})`],
        [
          'agent',
          agent
            ? `${agent.version} (${agent.name} at ${agent.api})`
            : colour.dim(`none answers at ${client.target}`),
        ],
      ]),
    );
  });
}
