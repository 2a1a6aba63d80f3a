// Which keys of a configuration file are definition kinds (detector:, collector:, check: ...), and
// what to say about one this build cannot load. A definition never vanishes: a kind that no
// subsystem handles, or a misspelt one (`detectr:`), is an error at its line, on start and reload.
import { closestWord } from '../shared/spelling.js';

/**
 * Definition kinds of the design (DESIGN.md) that this build has no subsystem for, and what is
 * missing. Keep in step with the subsystems main.ts wires: a kind leaves this table when its
 * subsystem lands.
 */
const UNBUILT_KINDS: Readonly<Record<string, string>> = {
  handler: 'the handlers (notifications) are not built yet',
  service: 'the service checks are not built yet',
};

/** Every definition kind of the design, handled by this build or not. */
const DESIGN_KINDS: readonly string[] = ['detector', 'collector', 'check', ...Object.keys(UNBUILT_KINDS)];

/** `pack:` is read from packs/<name>/pack.yml only; anywhere else it is a misplaced manifest. */
const PACK_MANIFEST_KEY = 'pack';

export class DefinitionKinds {
  /** Kinds handled here first (a suggestion prefers them), then the rest of the design's. */
  private readonly known: string[];

  /** `handled`: the kinds the running subsystems handle (main.ts passes them, with their schemas). */
  constructor(private readonly handled: ReadonlySet<string>) {
    this.known = [...new Set([...handled, ...DESIGN_KINDS])];
  }

  /** Whether `key`, at the top of a file or of a list item, names a definition (handled or not). */
  isKind(key: string): boolean {
    return this.handled.has(key) || DESIGN_KINDS.includes(key) || key === PACK_MANIFEST_KEY;
  }

  isHandled(kind: string): boolean {
    return this.handled.has(kind);
  }

  /** Why a definition of `kind` (isKind, not handled) cannot load: the rest of an error message. */
  unhandled(kind: string): string {
    if (kind === PACK_MANIFEST_KEY)
      return "a pack's manifest: it belongs in packs/<name>/pack.yml, not among definitions";
    return this.noSubsystem(kind);
  }

  /**
   * For a key that is neither a setting nor a kind: the error's message when it looks like a
   * misspelt kind (`detectr`, `Detectors`, `chek`), else undefined (an unknown setting, a warning).
   */
  misspelt(key: string): string | undefined {
    const kind = closestWord(key, this.known);
    return kind === undefined ? undefined : this.unknownKind(kind);
  }

  /** The message for a key that must be a kind (a list item, a pack file) and is not one. */
  unknown(key: string): string {
    const kind = closestWord(key, this.known);
    if (kind !== undefined) return this.unknownKind(kind);
    return `unknown definition kind (this build handles ${this.handledList()})`;
  }

  private unknownKind(suggestion: string): string {
    const problem = `unknown definition kind: did you mean ${suggestion}?`;
    if (this.handled.has(suggestion)) return problem;
    const missing = Object.hasOwn(UNBUILT_KINDS, suggestion) ? `: ${UNBUILT_KINDS[suggestion]}` : '';
    return `${problem} (which no subsystem of this build handles${missing})`;
  }

  private noSubsystem(kind: string): string {
    const missing = Object.hasOwn(UNBUILT_KINDS, kind) ? UNBUILT_KINDS[kind] : undefined;
    return `no subsystem of this build handles ${kind}: definitions${missing ? ` (${missing})` : ''}`;
  }

  private handledList(): string {
    const kinds = [...this.handled].sort().map((kind) => `${kind}:`);
    if (!kinds.length) return 'no definitions';
    return kinds.length === 1 ? kinds[0]! : `${kinds.slice(0, -1).join(', ')} and ${kinds.at(-1)!}`;
  }
}
