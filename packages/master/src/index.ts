// @dfs/master: the metadata service. Public surface, by name only.
export {
  startMaster,
  type MasterOptions,
  type RunningMaster,
} from './server.js';
export { Master, defaultMasterConfig, type MasterConfig } from './master.js';
export { MetadataStore, type ListResult, type FileWithChunks } from './state/metadata-store.js';
export {
  encodeCommand,
  decodeCommand,
  CommandDecodeError,
  COMMAND_VERSION,
  type Command,
  type CommandResult,
  type ChunkCommit,
} from './state/commands.js';
export { callerOf, authorize, RPC_ROLES, INSECURE_CALLER } from './access.js';
export { RaftCommandLog, type RaftCommandLogOptions } from './raft-command-log.js';
export {
  LocalCommandLog,
  type CommandLog,
  type CommandLogContext,
  type CommandLogStatus,
  type CommandLogPeer,
  type MasterPeer,
  type Role,
} from './command-log.js';
export { choosePlacement, chooseExcess, type PlacementNode, type PlacementRequest } from './placement.js';
export { ManualClock, systemClock, type Clock } from './clock.js';
export { verifyBackup, readBackupHeader, writeBackup, BACKUP_MAGIC, type BackupHeader } from './backup/backup-file.js';
export { restoreFromBackup, RESTORE_GAP, type RestoreOptions } from './backup/restore.js';
export { MetadataBackups, type ScheduledBackups, type LastBackup } from './backup/backups.js';
