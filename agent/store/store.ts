// What the rest of the agent sees of its one database (DESIGN.md: check history, KV and metrics
// share it): namespaces of string keys, atomic batches, optional fsync, ordered iteration.

/** One operation of a batch, on a key of the namespace that writes it. */
export type WriteOp = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string };

export interface WriteOptions {
  /**
   * fsync the write before it resolves, so a power cut or a kernel crash keeps it. Without it, a
   * write that resolved survives the agent's own crash (SIGKILL included: LevelDB has handed it to
   * the kernel) but maybe not the machine's. A synced write also makes every earlier one durable.
   */
  sync?: boolean;
}

/**
 * Which keys to read, within a namespace: `prefix`, or bounds (gt/gte, lt/lte), or neither for
 * them all. Keys come in byte order ('ascending', the default) or the reverse: with the
 * sortableNumber() sequence keys of keys.ts, 'descending' is newest first.
 */
export interface KeyRange {
  prefix?: string;
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  order?: 'ascending' | 'descending';
  /** At most this many entries. */
  limit?: number;
}

/**
 * A keyspace of its own in the store (LevelDB's keys `!<name>!<key>`, the layout of abstract-level
 * sublevels). Values are encoded by the namespace's codec; the type a reader names is the one its
 * writer stored (the codec does not check shapes: see codec.ts).
 */
export interface Namespace {
  readonly name: string;
  get<V>(key: string): Promise<V | undefined>;
  /** All of `ops` or none of them, even across a crash (one LevelDB batch, one log record). */
  write(ops: WriteOp[], options?: WriteOptions): Promise<void>;
  put(key: string, value: unknown, options?: WriteOptions): Promise<void>;
  del(key: string, options?: WriteOptions): Promise<void>;
  /** Key and value of each entry in `range`, read from one snapshot taken when iteration starts. */
  entries<V>(range?: KeyRange): AsyncIterable<[string, V]>;
  keys(range?: KeyRange): AsyncIterable<string>;
}

export interface Store {
  /** The store's directory (`<data-dir>/store`). */
  readonly location: string;
  /** The namespace `name` (lowercase letters, digits, '-'): 'checks', 'kv', 'metrics'. */
  sublevel(name: string, options?: { codec?: 'msgpack' | 'json' }): Namespace;
  /**
   * A consistent copy of the whole store (one snapshot) in `targetDir`, a LevelDB directory that
   * must not exist yet and that can replace `<data-dir>/store` as it is. Writes go on meanwhile.
   */
  backup(targetDir: string): Promise<{ entries: number }>;
  /** Closes the database (waits for writes in flight); every later operation fails as 'closed'. */
  close(): Promise<void>;
}
