// The Nagios plugin check (`script:`): runs a plugin of the Monitoring Plugins kind and reads its
// exit code, output and perfdata (docs/checks-script.md). The line is compiled when the check is
// created (an unknown macro or a bad quote is a config error then); each run only fills in the
// node's macros and runs the process.
import { Type } from '@sinclair/typebox';
import type { Timers } from '../../shared/timers.js';
import type {
  CheckDependencies,
  CheckResult,
  CheckRunContext,
  CheckRunner,
  CheckSpec,
  CheckType,
} from '../check-type.js';
import { compileCommand, type PluginCommand } from '../nagios/command.js';
import { pluginResult } from '../nagios/plugin-output.js';
import type { PluginSpawner } from '../nagios/plugin-process.js';
import { runPlugin } from '../nagios/run-plugin.js';

export const ScriptCheckSchema = Type.Object(
  {
    script: Type.String({
      minLength: 1,
      description:
        'the plugin and its arguments, with $macros$: "$nagiosplugins$/check_load -w $load.warning$"',
    }),
    shell: Type.Optional(
      Type.Boolean({
        description: 'run the line with /bin/sh -c (pipes, redirections); dangerous, off by default',
      }),
    ),
  },
  // The check's own values (thresholds, ...) sit beside `script:`: $mailq.warning$ reads them.
  { additionalProperties: true },
);

/** What tests change: the timers of the timeout and of the SIGKILL grace, and the grace. */
export interface ScriptCheckOptions {
  timers?: Timers;
  killGraceMs?: number;
}

/** The script check type; `options` only for tests (the agent uses SCRIPT_CHECK_TYPE). */
export function scriptCheckType(options: ScriptCheckOptions = {}): CheckType {
  return {
    type: 'script',
    description: 'runs a Nagios plugin (no shell): exit code is the state, output and perfdata are read',
    impliedBy: ['script'],
    schema: ScriptCheckSchema,
    create: (spec, dependencies) => new ScriptCheckRunner(spec, dependencies, options),
  };
}

export const SCRIPT_CHECK_TYPE: CheckType = scriptCheckType();

class ScriptCheckRunner implements CheckRunner {
  private readonly command: PluginCommand;
  private readonly spawner: PluginSpawner;

  constructor(
    spec: CheckSpec,
    dependencies: CheckDependencies,
    private readonly options: ScriptCheckOptions,
  ) {
    const { script, shell = false } = spec.body;
    if (typeof script !== 'string') throw new Error('script: must be a command line (text)');
    if (typeof shell !== 'boolean') throw new Error('shell: must be true or false');
    this.spawner = dependencies.pluginSpawner;
    this.command = compileCommand(script, {
      shell,
      body: spec.body,
      nagiosPluginsDir: dependencies.nagiosPluginsDir,
    });
  }

  /**
   * One run. Resolves (never rejects) once the plugin and its process group are gone, also on a
   * timeout or an abort: the result then says so (UNKNOWN).
   */
  async run(context: CheckRunContext): Promise<CheckResult> {
    const argv = this.command.argv(context.node);
    const outcome = await runPlugin({
      argv,
      spawner: this.spawner,
      signal: context.signal,
      timeoutMs: context.timeoutMs,
      ...(this.options.timers ? { timers: this.options.timers } : {}),
      ...(this.options.killGraceMs !== undefined ? { killGraceMs: this.options.killGraceMs } : {}),
    });
    return pluginResult(outcome, argv[0]!, context.timeoutMs);
  }
}
