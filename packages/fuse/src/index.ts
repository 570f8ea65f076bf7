// @dfs/fuse: the FUSE adapter over DfsClient, mounted by scripts/dfs-mount.
export { type FsBackend, type NodeCapacity, type AttributeChange } from './fs/backend.js';
export { DfsFileSystem, FS_DEFAULTS, type FileSystemOptions } from './fs/filesystem.js';
export { Errno, FsError, errnoName, toFuseErrno, type ErrnoName } from './fs/errno.js';
export { type Attr } from './fs/attrs.js';
export { parseArgs, USAGE, type MountArgs, type ParsedArgs } from './process/options.js';
export { main } from './process/main.js';
export { umount } from './process/umount.js';
export { isFuseMounted } from './native/mount-table.js';
