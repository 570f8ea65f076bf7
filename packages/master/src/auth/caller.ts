import type { Metadata } from '@grpc/grpc-js';
import { AUTHORIZATION_KEY, DfsError, ErrorCode } from '@dfs/proto';

/**
 * Who is calling, as the permission rules see it (HDFS: user + groups; the superuser
 * bypasses every check). Stamped into each command by the leader, so the rules run
 * deterministically inside apply.
 */
export interface Caller {
  user: string;
  groups: string[];
  superuser: boolean;
}

/** The superuser's name and group (HDFS: the user that started the NameNode, `supergroup`). */
export const SUPERUSER_NAME = 'root';
export const SUPERGROUP = 'supergroup';

export const SUPERUSER: Caller = Object.freeze({ user: SUPERUSER_NAME, groups: [SUPERGROUP], superuser: true }) as Caller;

/** User and group names: what a POSIX tool can print, bounded. */
const NAME_RE = /^[A-Za-z_][A-Za-z0-9._-]{0,63}$/;
export const MAX_GROUPS = 32;

export function isValidName(name: string): boolean {
  return NAME_RE.test(name);
}

export function checkName(kind: 'user' | 'group', name: string): string {
  if (!isValidName(name)) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `bad ${kind} name ${JSON.stringify(name)} (letters, digits, . _ -; at most 64)`);
  return name;
}

/** How a caller was identified, for `dfs whoami` and the audit log. */
export type CallerSource = 'token' | 'certificate' | 'default';

/** Verifies a bearer token; implemented by auth/tokens.ts. */
export interface TokenVerifier {
  verify(token: string): Promise<Caller>;
}

/**
 * THE function that says who a call comes from. Today: a bearer token when one is
 * presented, otherwise the superuser (the trust boundary's client certificates replace
 * that default: a certificate's user name, admin = superuser).
 */
export async function callerOf(metadata: Metadata, tokens: TokenVerifier): Promise<{ caller: Caller; via: CallerSource }> {
  const raw = metadata.get(AUTHORIZATION_KEY)[0];
  if (raw === undefined) return { caller: SUPERUSER, via: 'default' };
  const text = String(raw);
  const m = /^Bearer ([A-Za-z0-9._-]{1,8192})$/.exec(text);
  if (!m) throw new DfsError(ErrorCode.PERMISSION_DENIED, 'malformed authorization header (want "Bearer <token>")');
  return { caller: await tokens.verify(m[1]!), via: 'token' };
}
