import { ErrorCode, MAX_INLINE_BYTES } from '@dfs/proto';

/*
 * The command envelope (rqlite's command/): every metadata change is one of these values,
 * stamped by the leader with everything non-deterministic (times, lease expiries, defaults)
 * and then appended to the log. Encoding: UTF-8 JSON `{"v":1,"type":...,...}`.
 *
 * Compatibility rule: a field may be added with a default that reproduces the old
 * behaviour; a change in meaning needs a new `type` or a bump of COMMAND_VERSION (and
 * apply keeps the old code path so old log entries replay identically).
 */
export const COMMAND_VERSION = 1;

/** Longest client operation id accepted (a UUID is 36). */
export const MAX_OP_ID_LENGTH = 128;

/** A chunk's final length and checksum, as committed by a writer or by lease recovery. */
export interface ChunkCommit {
  handle: number;
  length: number;
  crc32c: number;
  /** CompleteFile of an append: the version the writer used for this chunk (absent = unchanged). */
  version?: number;
}

export interface CreateFileCmd {
  type: 'CreateFile';
  path: string;
  overwrite: boolean;
  replication: number; // stamped: never 0
  mode: number; // stamped: never 0
  chunkSize: number; // stamped: never 0
  clientId: string;
  now: number;
  leaseExpiry: number;
  /** Client-generated operation id: a retried command returns the first result (RetryCache). */
  opId?: string;
  /** Also allocate chunk 0 (the single-chunk fast path); absent = false. */
  firstChunk?: boolean;
  /** The whole file, base64 (at most MAX_INLINE_BYTES): created complete, kept inline. */
  inline?: string;
}
export interface AddChunkCmd {
  type: 'AddChunk';
  inode: number;
  clientId: string;
  index: number;
  previous?: ChunkCommit;
  now: number;
  leaseExpiry: number;
  /** Batch allocation: chunks index..index+count-1 (absent = 1). */
  count?: number;
}
export interface AbandonChunkCmd {
  type: 'AbandonChunk';
  inode: number;
  clientId: string;
  handle: number;
  now: number;
  leaseExpiry: number;
}
export interface CompleteFileCmd {
  type: 'CompleteFile';
  inode: number;
  clientId: string;
  chunks: ChunkCommit[];
  now: number;
  /** Client-generated operation id: a retried command returns the first result (RetryCache). */
  opId?: string;
}
export interface RenewLeaseCmd {
  type: 'RenewLease';
  clientId: string;
  now: number;
  leaseExpiry: number;
}
export interface MkdirCmd {
  type: 'Mkdir';
  path: string;
  parents: boolean;
  mode: number;
  now: number;
  /** Client-generated operation id: a retried command returns the first result (RetryCache). */
  opId?: string;
}
export interface DeleteCmd {
  type: 'Delete';
  path: string;
  recursive: boolean;
  skipTrash: boolean; // stamped: true also when trash is disabled
  now: number;
  /** Client-generated operation id: a retried command returns the first result (RetryCache). */
  opId?: string;
}
export interface RenameCmd {
  type: 'Rename';
  src: string;
  dst: string;
  overwrite: boolean;
  now: number;
  /** Client-generated operation id: a retried command returns the first result (RetryCache). */
  opId?: string;
}
/** Leader-proposed: a writer's lease expired; close the file at its last complete chunk. */
export interface RecoverLeaseCmd {
  type: 'RecoverLease';
  inode: number;
  now: number;
  /** Lengths the leader learned from chunk reports for chunks the writer never committed. */
  chunks: ChunkCommit[];
}
/** Leader-proposed: expire old trash checkpoints and checkpoint /.Trash/Current. */
export interface TrashCheckpointCmd {
  type: 'TrashCheckpoint';
  now: number;
  intervalMs: number;
}
/** Reopens a visible file for appending: writer lease + a newly granted chunk version (append.ts). */
export interface OpenAppendCmd {
  type: 'OpenAppend';
  inode: number;
  clientId: string;
  now: number;
  leaseExpiry: number;
}
export interface NoopCmd {
  type: 'Noop';
}

export type Command =
  | CreateFileCmd
  | AddChunkCmd
  | AbandonChunkCmd
  | CompleteFileCmd
  | RenewLeaseCmd
  | MkdirCmd
  | DeleteCmd
  | RenameCmd
  | RecoverLeaseCmd
  | TrashCheckpointCmd
  | OpenAppendCmd
  | NoopCmd;

export type CommandType = Command['type'];

/** The deterministic outcome of applying one command: a value, or a typed error. */
export type CommandResult<T = unknown> = { ok: true; value: T } | { ok: false; code: ErrorCode; message: string };

/** A log entry that cannot be decoded. Fatal: the state machine must stop, never skip it. */
export class CommandDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandDecodeError';
  }
}

type FieldKind = 'inline?' | 'string' | 'string?' | 'uint' | 'uint?' | 'bool' | 'bool?' | 'commit' | 'commits' | 'commit?';

const FIELDS: Record<CommandType, Record<string, FieldKind>> = {
  CreateFile: { path: 'string', overwrite: 'bool', replication: 'uint', mode: 'uint', chunkSize: 'uint', clientId: 'string', now: 'uint', leaseExpiry: 'uint', opId: 'string?', firstChunk: 'bool?', inline: 'inline?' },
  AddChunk: { inode: 'uint', clientId: 'string', index: 'uint', previous: 'commit?', now: 'uint', leaseExpiry: 'uint', count: 'uint?' },
  AbandonChunk: { inode: 'uint', clientId: 'string', handle: 'uint', now: 'uint', leaseExpiry: 'uint' },
  CompleteFile: { inode: 'uint', clientId: 'string', chunks: 'commits', now: 'uint', opId: 'string?' },
  RenewLease: { clientId: 'string', now: 'uint', leaseExpiry: 'uint' },
  Mkdir: { path: 'string', parents: 'bool', mode: 'uint', now: 'uint', opId: 'string?' },
  Delete: { path: 'string', recursive: 'bool', skipTrash: 'bool', now: 'uint', opId: 'string?' },
  Rename: { src: 'string', dst: 'string', overwrite: 'bool', now: 'uint', opId: 'string?' },
  RecoverLease: { inode: 'uint', now: 'uint', chunks: 'commits' },
  TrashCheckpoint: { now: 'uint', intervalMs: 'uint' },
  OpenAppend: { inode: 'uint', clientId: 'string', now: 'uint', leaseExpiry: 'uint' },
  Noop: {},
};

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isCommit(v: unknown): v is ChunkCommit {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return isUint(c['handle']) && isUint(c['length']) && isUint(c['crc32c']) && (c['crc32c'] as number) <= 0xffffffff && (c['version'] === undefined || isUint(c['version']));
}

function checkField(kind: FieldKind, v: unknown): boolean {
  switch (kind) {
    case 'string':
      return typeof v === 'string';
    case 'string?':
      return v === undefined || (typeof v === 'string' && v.length <= MAX_OP_ID_LENGTH);
    case 'inline?':
      return v === undefined || (typeof v === 'string' && v.length <= Math.ceil(MAX_INLINE_BYTES / 3) * 4 && BASE64.test(v));
    case 'uint':
      return isUint(v);
    case 'uint?':
      return v === undefined || isUint(v);
    case 'bool':
      return typeof v === 'boolean';
    case 'bool?':
      return v === undefined || typeof v === 'boolean';
    case 'commit':
      return isCommit(v);
    case 'commit?':
      return v === undefined || isCommit(v);
    case 'commits':
      return Array.isArray(v) && v.every(isCommit);
  }
}

/** Checks a command's shape (used by encode, so a malformed command is never proposed). */
export function validateCommand(raw: unknown): Command {
  if (typeof raw !== 'object' || raw === null) throw new CommandDecodeError('command is not an object');
  const obj = raw as Record<string, unknown>;
  const type = obj['type'];
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(FIELDS, type)) {
    throw new CommandDecodeError(`unknown command type ${JSON.stringify(type)}`);
  }
  const fields = FIELDS[type as CommandType];
  for (const [name, kind] of Object.entries(fields)) {
    if (!checkField(kind, obj[name])) throw new CommandDecodeError(`${type}: bad field ${name}: ${JSON.stringify(obj[name])}`);
  }
  return obj as unknown as Command;
}

export function encodeCommand(cmd: Command): Uint8Array {
  validateCommand(cmd);
  return Buffer.from(JSON.stringify({ v: COMMAND_VERSION, ...cmd }), 'utf8');
}

/** Decodes a log entry. Throws CommandDecodeError (fatal) for anything not a valid command. */
export function decodeCommand(data: Uint8Array): Command {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch (err) {
    throw new CommandDecodeError(`entry is not JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null) throw new CommandDecodeError('entry is not an object');
  const v = (raw as Record<string, unknown>)['v'];
  if (v !== COMMAND_VERSION) throw new CommandDecodeError(`unsupported command version ${JSON.stringify(v)}`);
  return validateCommand(raw);
}
