import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DfsError, ErrorCode } from '@dfs/proto';

/*
 * A credentials directory, as `dfs admin cert issue --out D` writes it and every
 * process reads it: the trusted CA bundle, the certificate and its key (0600).
 * During a CA rotation ca.crt holds the old and the new CA, so both are trusted.
 */
export const CREDENTIAL_FILES = { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' } as const;

export interface CredentialPaths {
  ca: string;
  cert: string;
  key: string;
}

export interface CredentialBytes {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export function credentialPaths(dir: string): CredentialPaths {
  return { ca: join(dir, CREDENTIAL_FILES.ca), cert: join(dir, CREDENTIAL_FILES.cert), key: join(dir, CREDENTIAL_FILES.key) };
}

export function readCredentials(dir: string): CredentialBytes {
  const paths = credentialPaths(dir);
  try {
    return { ca: readFileSync(paths.ca), cert: readFileSync(paths.cert), key: readFileSync(paths.key) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const what = e.code === 'ENOENT' ? `missing ${e.path ?? 'a file'}` : e.message;
    throw new DfsError(
      ErrorCode.INVALID_ARGUMENT,
      `no TLS credentials in ${dir} (${what}): issue them with \`dfs admin cert issue --out ${dir}\`, or run with --insecure`,
    );
  }
}
