import { userInfo } from 'node:os';
import type { Metadata } from '@grpc/grpc-js';
import { AUTHORIZATION_KEY, DfsError, ErrorCode } from '@dfs/proto';
import type { AuthenticatedCall, Identity } from '@dfs/security';
import { INSECURE_CALLER, callerOf as certificateOf } from '../access.js';

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

/** HDFS: members of this group are superusers. */
export const SUPERGROUP = 'supergroup';

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

/**
 * The superuser's name. HDFS: the user the NameNode runs as — here the OS user running the
 * master (so `make run` makes you the superuser of your own cluster), or DFS_SUPERUSER.
 */
export const SUPERUSER_NAME: string = ((): string => {
  const fromEnv = process.env.DFS_SUPERUSER;
  if (fromEnv && isValidName(fromEnv)) return fromEnv;
  try {
    const name = userInfo().username;
    if (isValidName(name)) return name;
  } catch {
    /* no passwd entry */
  }
  return 'root';
})();

export const SUPERUSER: Caller = Object.freeze({ user: SUPERUSER_NAME, groups: [SUPERGROUP], superuser: true }) as Caller;

/** A user and its groups as the rules see them: the superuser by name or by group (HDFS). */
export function callerFor(user: string, groups: string[]): Caller {
  return { user, groups, superuser: user === SUPERUSER_NAME || groups.includes(SUPERGROUP) };
}

/** How a caller was identified, for `dfs whoami` and the audit log. */
export type CallerSource = 'token' | 'certificate' | 'insecure';

/** Verifies a bearer token; implemented by auth/tokens.ts. */
export interface TokenVerifier {
  verify(token: string): Promise<Caller>;
}

/**
 * THE function that says which user a call comes from:
 *   - a bearer token (`authorization: Bearer <jwt>`) names its user and groups;
 *   - else the client certificate (access.ts): dfs://user/NAME is user NAME (group NAME),
 *     dfs://admin/NAME is a superuser;
 *   - a plaintext (--insecure) call is the superuser: nothing is authenticated there.
 * `certificate` is the call's certificate identity when the caller already read it
 * (authorize does): reading it parses the peer certificate again (~18 µs a call here).
 */
export async function callerOf(
  call: AuthenticatedCall & { metadata: Metadata },
  tokens: TokenVerifier,
  certificate?: Identity,
): Promise<{ caller: Caller; via: CallerSource }> {
  const raw = call.metadata.get(AUTHORIZATION_KEY)[0];
  if (raw !== undefined) {
    const m = /^Bearer ([A-Za-z0-9._-]{1,8192})$/.exec(String(raw));
    if (!m) throw new DfsError(ErrorCode.PERMISSION_DENIED, 'malformed authorization header (want "Bearer <token>")');
    return { caller: await tokens.verify(m[1]!), via: 'token' };
  }
  const id = certificate ?? certificateOf(call);
  if (id === INSECURE_CALLER) return { caller: SUPERUSER, via: 'insecure' };
  if (id.role === 'admin') return { caller: { user: id.name, groups: [SUPERGROUP], superuser: true }, via: 'certificate' };
  return { caller: callerFor(id.name, [id.name]), via: 'certificate' };
}
