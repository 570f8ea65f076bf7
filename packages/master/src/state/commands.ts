import { ErrorCode, MAX_INLINE_BYTES, MAX_REQUEST_ID_BYTES } from '@dfs/proto';
import { MAX_GROUPS, isValidName, type Caller } from '../auth/caller.js';

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
  /** Who asked (stamped by the leader); absent = the superuser (entries from before permissions). */
  caller?: Caller;
  /** The whole file, base64 (at most MAX_INLINE_BYTES): created complete, kept inline. */
  inline?: string;
  /** Compare-and-swap: the path must hold this inode (it is replaced), else STALE_VERSION. */
  replaces?: number;
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
  /** Drop the whole (never attached) file: a failed create. Absent = false. */
  wholeFile?: boolean;
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
  /** HDFS hard limit: no lease extends past the file's last progress + this (absent = unbounded, older entries). */
  hardLimit?: number;
}
export interface MkdirCmd {
  type: 'Mkdir';
  path: string;
  parents: boolean;
  mode: number;
  now: number;
  /** Client-generated operation id: a retried command returns the first result (RetryCache). */
  opId?: string;
  /** Who asked (stamped by the leader); absent = the superuser (entries from before permissions). */
  caller?: Caller;
}
export interface DeleteCmd {
  type: 'Delete';
  path: string;
  recursive: boolean;
  skipTrash: boolean; // stamped: true also when trash is disabled
  now: number;
  /** Client-generated operation id: a retried command returns the first result (RetryCache). */
  opId?: string;
  /** Who asked (stamped by the leader); absent = the superuser (entries from before permissions). */
  caller?: Caller;
}
export interface RenameCmd {
  type: 'Rename';
  src: string;
  dst: string;
  overwrite: boolean;
  now: number;
  /** Client-generated operation id: a retried command returns the first result (RetryCache). */
  opId?: string;
  /** Who asked (stamped by the leader); absent = the superuser (entries from before permissions). */
  caller?: Caller;
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
  /** Who asked (stamped by the leader); absent = the superuser (entries from before permissions). */
  caller?: Caller;
}
/** chmod / chown / chgrp / utimes: sets what is given (users/attributes in permissions.ts). */
export interface SetAttrCmd {
  type: 'SetAttr';
  path: string;
  mode?: number;
  owner?: string;
  group?: string;
  mtime?: number;
  atime?: number;
  now: number;
  caller?: Caller;
  opId?: string;
}
/** Directory quotas (HDFS): sets the given limits, or removes both with `clear`. Superuser only. */
export interface SetQuotaCmd {
  type: 'SetQuota';
  path: string;
  files?: number;
  space?: number;
  clear: boolean;
  now: number;
  caller?: Caller;
}
/** setrep: a file's replication target; the leader then adds or trims replicas. */
export interface SetReplicationCmd {
  type: 'SetReplication';
  path: string;
  replication: number;
  now: number;
  caller?: Caller;
}
/** Leader-proposed once: the random cluster key that signs bearer tokens (same on every master). */
export interface SetAuthKeyCmd {
  type: 'SetAuthKey';
  id: string;
  secret: string;
  now: number;
}
/**
 * Leader-proposed on a schedule: a new key for the chunk-token ring (auth/chunk-keys.ts), and
 * the retirement of keys whose every token has expired (expires <= now). secret is base64.
 */
export interface AddChunkKeyCmd {
  type: 'AddChunkKey';
  id: string;
  secret: string;
  activeFrom: number;
  expires: number;
  now: number;
}
/** `dfs admin token revoke`: remembered until the token would have expired anyway. */
export interface RevokeTokenCmd {
  type: 'RevokeToken';
  jti: string;
  expiry: number;
  now: number;
}
/** A symbolic link at `path` to `target` (docs/posix.md; posix.ts). */
export interface SymlinkCmd {
  type: 'Symlink';
  path: string;
  target: string;
  now: number;
  caller?: Caller;
  opId?: string;
}
/** A FIFO, socket or device node: metadata only. `kind` is the inode type (schema.ts). */
export interface MknodCmd {
  type: 'Mknod';
  path: string;
  kind: number;
  mode: number;
  rdev: number;
  now: number;
  caller?: Caller;
  opId?: string;
}
/** A hard link: `dst` becomes another name of the inode at `src`. */
export interface LinkCmd {
  type: 'Link';
  src: string;
  dst: string;
  now: number;
  caller?: Caller;
  opId?: string;
}
/**
 * Leader-proposed: the balancer's run state, kept in the Raft state so a run survives a
 * leader change (the new leader resumes it). thresholdMilli = threshold × 1000; 0 = stopped.
 */
export interface SetBalancerCmd {
  type: 'SetBalancer';
  thresholdMilli: number;
}
/** Leader-proposed once: the cluster's random identity (48 bits), named in metadata backups. */
export interface SetClusterIdCmd {
  type: 'SetClusterId';
  id: number;
}
/** `dfs snapshot allow|disallow DIR` (superuser). */
export interface AllowSnapshotCmd {
  type: 'AllowSnapshot';
  path: string;
  allow: boolean;
  now: number;
  caller?: Caller;
}
/** `dfs snapshot create DIR [NAME]` (the leader stamps a default name from `now`). */
export interface CreateSnapshotCmd {
  type: 'CreateSnapshot';
  path: string;
  name: string;
  now: number;
  opId?: string;
  caller?: Caller;
}
export interface DeleteSnapshotCmd {
  type: 'DeleteSnapshot';
  path: string;
  name: string;
  now: number;
  opId?: string;
  caller?: Caller;
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
  | SetBalancerCmd
  | SetAttrCmd
  | SetQuotaCmd
  | SetReplicationCmd
  | SetAuthKeyCmd
  | AddChunkKeyCmd
  | RevokeTokenCmd
  | SymlinkCmd
  | MknodCmd
  | LinkCmd
  | SetClusterIdCmd
  | AllowSnapshotCmd
  | CreateSnapshotCmd
  | DeleteSnapshotCmd
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

type FieldKind = 'string' | 'string?' | 'uint' | 'uint?' | 'bool' | 'bool?' | 'commit' | 'commits' | 'commit?' | 'caller?' | 'inline?';

const FIELDS: Record<CommandType, Record<string, FieldKind>> = {
  CreateFile: { path: 'string', overwrite: 'bool', replication: 'uint', mode: 'uint', chunkSize: 'uint', clientId: 'string', now: 'uint', leaseExpiry: 'uint', opId: 'string?', firstChunk: 'bool?', caller: 'caller?', inline: 'inline?', replaces: 'uint?' },
  AddChunk: { inode: 'uint', clientId: 'string', index: 'uint', previous: 'commit?', now: 'uint', leaseExpiry: 'uint', count: 'uint?' },
  AbandonChunk: { inode: 'uint', clientId: 'string', handle: 'uint', now: 'uint', leaseExpiry: 'uint', wholeFile: 'bool?' },
  CompleteFile: { inode: 'uint', clientId: 'string', chunks: 'commits', now: 'uint', opId: 'string?' },
  RenewLease: { clientId: 'string', now: 'uint', leaseExpiry: 'uint', hardLimit: 'uint?' },
  Mkdir: { path: 'string', parents: 'bool', mode: 'uint', now: 'uint', opId: 'string?', caller: 'caller?' },
  Delete: { path: 'string', recursive: 'bool', skipTrash: 'bool', now: 'uint', opId: 'string?', caller: 'caller?' },
  Rename: { src: 'string', dst: 'string', overwrite: 'bool', now: 'uint', opId: 'string?', caller: 'caller?' },
  RecoverLease: { inode: 'uint', now: 'uint', chunks: 'commits' },
  TrashCheckpoint: { now: 'uint', intervalMs: 'uint' },
  OpenAppend: { inode: 'uint', clientId: 'string', now: 'uint', leaseExpiry: 'uint', caller: 'caller?' },
  SetBalancer: { thresholdMilli: 'uint' },
  SetAttr: { path: 'string', mode: 'uint?', owner: 'string?', group: 'string?', mtime: 'uint?', atime: 'uint?', now: 'uint', caller: 'caller?', opId: 'string?' },
  SetQuota: { path: 'string', files: 'uint?', space: 'uint?', clear: 'bool', now: 'uint', caller: 'caller?' },
  SetReplication: { path: 'string', replication: 'uint', now: 'uint', caller: 'caller?' },
  SetAuthKey: { id: 'string', secret: 'string', now: 'uint' },
  AddChunkKey: { id: 'string', secret: 'string', activeFrom: 'uint', expires: 'uint', now: 'uint' },
  RevokeToken: { jti: 'string', expiry: 'uint', now: 'uint' },
  Symlink: { path: 'string', target: 'string', now: 'uint', caller: 'caller?', opId: 'string?' },
  Mknod: { path: 'string', kind: 'uint', mode: 'uint', rdev: 'uint', now: 'uint', caller: 'caller?', opId: 'string?' },
  Link: { src: 'string', dst: 'string', now: 'uint', caller: 'caller?', opId: 'string?' },
  SetClusterId: { id: 'uint' },
  AllowSnapshot: { path: 'string', allow: 'bool', now: 'uint', caller: 'caller?' },
  CreateSnapshot: { path: 'string', name: 'string', now: 'uint', opId: 'string?', caller: 'caller?' },
  DeleteSnapshot: { path: 'string', name: 'string', now: 'uint', opId: 'string?', caller: 'caller?' },
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

function isCaller(v: unknown): v is Caller {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return (
    typeof c['user'] === 'string' && isValidName(c['user']) && typeof c['superuser'] === 'boolean' &&
    Array.isArray(c['groups']) && c['groups'].length <= MAX_GROUPS && c['groups'].every((g) => typeof g === 'string' && isValidName(g))
  );
}

function checkField(kind: FieldKind, v: unknown): boolean {
  switch (kind) {
    case 'caller?':
      return v === undefined || isCaller(v);
    case 'string':
      return typeof v === 'string';
    case 'string?':
      return v === undefined || (typeof v === 'string' && v.length <= MAX_REQUEST_ID_BYTES);
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
