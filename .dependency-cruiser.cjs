// Who may import whom (docs/architecture.md): `npm run lint` fails on a wrong import.
// Each subsystem lists the folders it may import besides its own; everything else under agent/ is
// forbidden to it. agent/shared imports nothing; nothing imports main.ts but the CLI's `agent start`.

/** A rule: files under agent/<from>/ may import, under agent/, only <allowed> (and themselves). */
function only(from, allowed, comment) {
  const targets = [from, ...allowed].map((name) => name.replace(/\./g, '\\.')).join('|');
  return {
    name: `${from.replace(/\//g, '-')}-imports`,
    comment,
    severity: 'error',
    from: { path: `^agent/${from.replace(/\./g, '\\.')}` },
    to: { path: '^agent/', pathNot: `^agent/(${targets})(/|$)` },
  };
}

// What every subsystem may use: shared code, configuration types, the event bus, the logger, and
// the Subsystem interface.
const FOUNDATION = ['shared', 'config', 'events', 'log', 'subsystem.ts'];

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment:
        'no import cycles (DESIGN.md); a type-only import back (routes.ts naming its subsystem type) loads nothing and does not count',
      severity: 'error',
      from: { path: '^(agent|cli)/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    only('shared', [], 'shared code and the API types import nothing of the agent'),
    only('config', ['shared'], 'configuration imports no subsystem'),
    only('events', ['shared'], 'the event bus imports no subsystem'),
    only('log', ['shared'], 'the logger imports no subsystem'),
    only('evaluator', ['shared'], 'data reaches the evaluator through providers that main injects'),
    only('rpc', ['shared', 'log'], 'the cluster RPC knows no subsystem'),
    only('api', [...FOUNDATION], 'the API never imports a subsystem: subsystems hand it their routes'),
    only('gossip', [...FOUNDATION, 'rpc'], 'gossip -> rpc, events, config'),
    only('collectors', [...FOUNDATION], 'collectors -> events'),
    only('detectors', [...FOUNDATION, 'evaluator'], 'detectors -> evaluator, events'),
    only('checks', [...FOUNDATION, 'evaluator', 'store'], 'checks -> evaluator, events, store'),
    only(
      'dns',
      [...FOUNDATION],
      'dns -> gossip, through the members provider main injects: it imports no subsystem',
    ),
    only('kv', [...FOUNDATION, 'store', 'rpc'], 'kv -> gossip (through providers main injects), rpc, store'),
    only('metrics', [...FOUNDATION, 'store', 'rpc'], 'metrics -> store, events, rpc (the fan-out to come)'),
    only('store', ['shared'], 'the one storage module (level) knows no subsystem'),
    only('datadir', ['shared', 'config'], 'the data dir knows no subsystem'),
    only(
      'core',
      [...FOUNDATION, 'evaluator'],
      'lifecycle, info, signals: subsystems only through interfaces',
    ),
    only('subsystem.ts', ['shared', 'config'], 'the Subsystem interface imports only types'),
    {
      name: 'nothing-imports-main',
      comment: 'main.ts wires everything; only the CLI loads it, for `opsbro agent start`',
      severity: 'error',
      from: { path: '^agent/', pathNot: '^agent/main\\.ts$' },
      to: { path: '^agent/main\\.ts$' },
    },
    {
      name: 'cli-imports-shared-only',
      comment:
        'the CLI speaks HTTP to the agent: it may import agent/shared (types, proofs), and main for `agent start`',
      severity: 'error',
      from: { path: '^cli/' },
      to: { path: '^agent/', pathNot: '^agent/(shared/|main\\.ts$)' },
    },
    {
      name: 'cli-loads-main-lazily',
      comment: 'every other command must stay light: main only through import() in `agent start`',
      severity: 'error',
      from: { path: '^cli/' },
      to: { path: '^agent/main\\.ts$', dependencyTypesNot: ['dynamic-import'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
