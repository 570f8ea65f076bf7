import { DfsError, ErrorCode } from '@dfs/proto';

/** Linux errno values (positive); FUSE callbacks take them negated. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ETIMEDOUT: 110,
  ESTALE: 116,
  EDQUOT: 122,
} as const;

export type ErrnoName = keyof typeof Errno;

/** An error the adapter raises itself, carrying the errno the caller should see. */
export class FsError extends Error {
  /** An answer that is part of normal operation (nothing to log). */
  readonly expected: boolean;

  constructor(
    readonly errno: ErrnoName,
    message: string,
    opts: { expected?: boolean } = {},
  ) {
    super(`${errno}: ${message}`);
    this.name = 'FsError';
    this.expected = opts.expected ?? false;
  }
}

/** How each dfs error code reaches a POSIX caller. Anything not listed is EIO. */
const ERRNO_BY_CODE: Partial<Record<ErrorCode, ErrnoName>> = {
  [ErrorCode.NOT_FOUND]: 'ENOENT',
  [ErrorCode.ALREADY_EXISTS]: 'EEXIST',
  [ErrorCode.NOT_EMPTY]: 'ENOTEMPTY',
  [ErrorCode.IS_A_DIRECTORY]: 'EISDIR',
  [ErrorCode.NOT_A_DIRECTORY]: 'ENOTDIR',
  [ErrorCode.NAME_TOO_LONG]: 'ENAMETOOLONG',
  [ErrorCode.INVALID_PATH]: 'EINVAL',
  [ErrorCode.INVALID_ARGUMENT]: 'EINVAL',
  [ErrorCode.NO_SPACE]: 'ENOSPC',
  [ErrorCode.NOT_ENOUGH_CHUNKSERVERS]: 'ENOSPC',
  [ErrorCode.PERMISSION_DENIED]: 'EACCES',
  [ErrorCode.TOKEN_EXPIRED]: 'EACCES',
  [ErrorCode.QUOTA_EXCEEDED]: 'EDQUOT',
  [ErrorCode.LEASE_HELD]: 'EBUSY',
  [ErrorCode.UNAVAILABLE]: 'EIO',
  [ErrorCode.SAFE_MODE]: 'EIO',
  [ErrorCode.DEADLINE_EXCEEDED]: 'EIO',
  [ErrorCode.CANCELLED]: 'EIO',
};

/** Local spool errors that keep their meaning; other local I/O failures are EIO. */
const LOCAL_ERRNOS = new Set<string>(['ENOSPC', 'EFBIG', 'EROFS', 'EACCES']);

export function errnoName(err: unknown): ErrnoName {
  if (err instanceof FsError) return err.errno;
  if (DfsError.is(err)) return ERRNO_BY_CODE[err.code] ?? 'EIO';
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && LOCAL_ERRNOS.has(code)) return code as ErrnoName;
  return 'EIO';
}

/** The negative errno a FUSE callback takes for any thrown value. */
export function toFuseErrno(err: unknown): number {
  return -Errno[errnoName(err)];
}
