import { createSecureContext } from 'node:tls';
import { unwatchFile, watchFile } from 'node:fs';
import type { experimental } from '@grpc/grpc-js';
import { credentialPaths, readCredentials, type CredentialBytes } from './credential-files.js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/**
 * One credentials directory, loaded once and handed to every gRPC server and channel of
 * the process (a grpc-js CertificateProvider). `reload()` re-reads the files and, when
 * they form a usable TLS context, pushes them to every listener: new connections use the
 * new certificate, established ones keep going. A half-written set (a certificate whose
 * key is not there yet) is skipped and the old one kept.
 */
export class CertificateSource implements experimental.CertificateProvider {
  private current: CredentialBytes;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private watching = false;

  constructor(readonly dir: string) {
    this.current = readCredentials(dir);
    validate(this.current);
  }

  get credentials(): CredentialBytes {
    return this.current;
  }

  /** Re-reads the files; true when they changed and were taken. Throws when the new set is unusable. */
  reload(): boolean {
    const next = readCredentials(this.dir);
    if (next.ca.equals(this.current.ca) && next.cert.equals(this.current.cert) && next.key.equals(this.current.key)) return false;
    validate(next);
    this.current = next;
    for (const l of this.caListeners) l({ caCertificate: next.ca });
    for (const l of this.identityListeners) l({ certificate: next.cert, privateKey: next.key });
    return true;
  }

  /** Polls the three files (a rename over them is seen too); `onError` hears a bad new set. */
  watch(intervalMs: number, onChange: (err?: Error) => void): void {
    if (this.watching) return;
    this.watching = true;
    const check = (): void => {
      try {
        if (this.reload()) onChange();
      } catch (err) {
        onChange(err as Error);
      }
    };
    for (const path of Object.values(credentialPaths(this.dir))) watchFile(path, { interval: intervalMs, persistent: false }, check);
  }

  unwatch(): void {
    if (!this.watching) return;
    this.watching = false;
    for (const path of Object.values(credentialPaths(this.dir))) unwatchFile(path);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    listener({ caCertificate: this.current.ca });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    listener({ certificate: this.current.cert, privateKey: this.current.key });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}

/** Throws unless the key matches the certificate and every PEM parses. */
function validate(c: CredentialBytes): void {
  createSecureContext({ ca: c.ca, cert: c.cert, key: c.key });
}
