// @dfs/fuse: the FUSE adapter over DfsClient, mounted by scripts/dfs-mount.
export { type FsBackend, type NodeCapacity, type AttributeChange } from './backend.js';
export { DfsFileSystem, FS_DEFAULTS, type FileSystemOptions } from './filesystem.js';
export { Errno, FsError, errnoName, toFuseErrno, type ErrnoName } from './errno.js';
export { type Attr } from './attrs.js';
export { parseArgs, USAGE, type MountArgs, type ParsedArgs } from './options.js';
export { main } from './main.js';
export { umount } from './umount.js';
export { isFuseMounted } from './mount-table.js';
