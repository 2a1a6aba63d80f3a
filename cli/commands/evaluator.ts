// `opsbro evaluator eval EXPR | list`: try an expression against the live agent, list the functions.
import { Command } from 'commander';
import type { FunctionDoc } from '../../agent/shared/api-types.js';
import { type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient } from '../client.js';
import { printJson, table } from '../output.js';

interface EvalAnswer {
  expression: string;
  value: unknown;
}

export function evaluatorCommand(): Command {
  const evaluator = new Command('evaluator').description(
    'expressions of detectors and checks (docs/evaluator.md)',
  );
  withJson(
    withApiOptions(
      evaluator
        .command('eval')
        .description("evaluate an expression against this node's live data")
        .argument('<expression>', `e.g. "{collector.cpustats.cpuall.%idle} > 10" (quote it for the shell)`),
    ),
  ).action(async (expression: string, options: ReadOptions) => {
    const answer = await new AgentClient(options).post<EvalAnswer>('/agent/evaluator/eval', { expression });
    if (options.json) return printJson(answer);
    process.stdout.write(
      `${typeof answer.value === 'string' ? answer.value : JSON.stringify(answer.value)}\n`,
    );
  });
  withJson(
    withApiOptions(evaluator.command('list').description('the functions expressions may call')),
  ).action(async (options: ReadOptions) => {
    const functions = await new AgentClient(options).get<FunctionDoc[]>('/agent/evaluator/functions');
    if (options.json) return printJson(functions);
    process.stdout.write(
      table(
        ['FUNCTION', 'DOES'],
        functions.map((fn) => [fn.signature, fn.doc]),
      ),
    );
  });
  return evaluator;
}
