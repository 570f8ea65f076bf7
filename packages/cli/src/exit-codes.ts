import type { DfsError } from '@dfs/proto';
import { loadProto } from './lazy.js';

/** Exit codes, documented in `dfs help exit-codes`. */
export const EXIT = {
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  EXISTS: 4,
  UNAVAILABLE: 5,
  PERMISSION_DENIED: 6,
  QUOTA_EXCEEDED: 7,
} as const;

export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  error (anything not listed below)
  2  usage error (unknown command or option, bad argument, invalid path)
  3  not found (remote or local path does not exist)
  4  already exists (use --overwrite to replace a file)
  5  cluster unavailable (no master leader reachable, not enough chunkservers)
  6  permission denied (the message names the path and the missing permission)
  7  quota exceeded (a directory's name or space quota; see dfs count -q)`;

export function exitCodeFor(err: DfsError): number {
  const { ErrorCode } = loadProto();
  switch (err.code) {
    case ErrorCode.NOT_FOUND:
    case ErrorCode.UNKNOWN_CHUNK:
      return EXIT.NOT_FOUND;
    case ErrorCode.ALREADY_EXISTS:
      return EXIT.EXISTS;
    case ErrorCode.INVALID_PATH:
    case ErrorCode.INVALID_ARGUMENT:
    case ErrorCode.NAME_TOO_LONG:
      return EXIT.USAGE;
    case ErrorCode.UNAVAILABLE:
    case ErrorCode.NOT_LEADER:
    case ErrorCode.DEADLINE_EXCEEDED:
    case ErrorCode.NOT_ENOUGH_CHUNKSERVERS:
    case ErrorCode.SAFE_MODE:
      return EXIT.UNAVAILABLE;
    case ErrorCode.PERMISSION_DENIED:
    case ErrorCode.TOKEN_EXPIRED:
      return EXIT.PERMISSION_DENIED;
    case ErrorCode.QUOTA_EXCEEDED:
      return EXIT.QUOTA_EXCEEDED;
    default:
      return EXIT.ERROR;
  }
}
