// Which keys are definition kinds, and the words of the error for one this build cannot load.
import { describe, expect, it } from 'vitest';
import { DefinitionKinds } from '../../agent/config/definition-kinds.js';
import { closestWord, editDistance } from '../../agent/shared/spelling.js';

describe('spelling', () => {
  it('counts inserts, deletes, replacements and swaps of neighbours, case ignored', () => {
    expect(editDistance('detectr', 'detector')).toBe(1);
    expect(editDistance('dectector', 'detector')).toBe(1);
    expect(editDistance('adn', 'and')).toBe(1);
    expect(editDistance('Detectors', 'detector')).toBe(1);
    expect(editDistance('colector', 'collector')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('a'.repeat(60), 'check', 2)).toBe(3);
  });

  it('suggests a word one edit away when it is short, two when it is longer, else nothing', () => {
    const kinds = ['detector', 'collector', 'check', 'handler', 'service'];
    expect(closestWord('detcetor', kinds)).toBe('detector');
    expect(closestWord('colectr', kinds)).toBe('collector');
    expect(closestWord('chek', kinds)).toBe('check');
    expect(closestWord('chk', kinds)).toBeUndefined();
    expect(closestWord('services', kinds)).toBe('service');
    expect(closestWord('datacenter', kinds)).toBeUndefined();
    expect(closestWord('constructor', kinds)).toBeUndefined();
  });
});

describe('DefinitionKinds', () => {
  const kinds = new DefinitionKinds(new Set(['detector', 'collector']));

  it('knows the kinds of the design, handled or not, and pack', () => {
    for (const kind of ['detector', 'collector', 'check', 'handler', 'service', 'pack'])
      expect(kinds.isKind(kind)).toBe(true);
    for (const key of ['detectr', 'groups', 'constructor', '__proto__', 'toString'])
      expect(kinds.isKind(key)).toBe(false);
    expect(kinds.isHandled('detector')).toBe(true);
    expect(kinds.isHandled('check')).toBe(false);
  });

  it('says what is missing for a kind of the design this build lacks', () => {
    expect(kinds.unhandled('handler')).toBe(
      'no subsystem of this build handles handler: definitions (the handlers (notifications) are not built yet)',
    );
    // Built, but not handed to this loader: no reason to give.
    expect(kinds.unhandled('check')).toBe('no subsystem of this build handles check: definitions');
    expect(new DefinitionKinds(new Set()).unhandled('detector')).toBe(
      'no subsystem of this build handles detector: definitions',
    );
  });

  it('suggests the kind a misspelt key resembles, and lists the handled kinds otherwise', () => {
    expect(kinds.misspelt('detectr')).toBe('unknown definition kind: did you mean detector?');
    expect(kinds.misspelt('COLLECTORS')).toBe('unknown definition kind: did you mean collector?');
    expect(kinds.misspelt('handelr')).toBe(
      'unknown definition kind: did you mean handler? (which no subsystem of this build handles: the handlers (notifications) are not built yet)',
    );
    expect(kinds.misspelt('frobnicate')).toBeUndefined();
    expect(kinds.unknown('frobnicate')).toBe(
      'unknown definition kind (this build handles collector: and detector:)',
    );
  });
});
