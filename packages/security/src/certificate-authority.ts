import { webcrypto, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { DfsError, ErrorCode } from '@dfs/proto';
import { CREDENTIAL_FILES } from './credential-files.js';
import { identityUri, isValidIdentityName, type Identity } from './identity.js';

/*
 * The cluster CA and the certificates it issues (@peculiar/x509 over WebCrypto, ECDSA
 * P-256). A CA directory holds:
 *   ca.crt      the CA certificate that signs new certificates
 *   ca.key      its private key (0600)
 *   bundle.crt  every CA certificate to trust: during a rotation the new and the old
 * `dfs admin cert issue` copies bundle.crt into each credentials directory as its ca.crt.
 */
export const CA_FILES = { cert: 'ca.crt', key: 'ca.key', bundle: 'bundle.crt' } as const;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;

type X509 = typeof import('@peculiar/x509');

let x509: X509 | undefined;
/** Loaded only by the commands that issue certificates (nodes and clients never pay for it). */
function lib(): X509 {
  if (!x509) {
    require('reflect-metadata');
    x509 = require('@peculiar/x509') as X509;
    x509.cryptoProvider.set(webcrypto as never);
  }
  return x509;
}

/** Writes `data` to `path` atomically (a reader never sees half a file), with `mode`. */
function writeAtomic(path: string, data: string | Buffer, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END PRIVATE KEY-----\n`;
}

function serial(): string {
  // Positive 16-byte serial (RFC 5280 asks for at most 20 octets, non-negative).
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

export interface CaInfo {
  dir: string;
  subject: string;
  fingerprint: string;
  notAfter: string;
}

function caInfo(dir: string): CaInfo {
  const cert = new X509Certificate(readFileSync(join(dir, CA_FILES.cert)));
  return { dir, subject: cert.subject, fingerprint: cert.fingerprint256, notAfter: cert.validTo };
}

async function newCa(name: string, years: number): Promise<{ cert: string; key: string }> {
  const x = lib();
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const ca = await x.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + years * 365 * DAY_MS),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x.BasicConstraintsExtension(true, 0, true),
      new x.KeyUsagesExtension(x.KeyUsageFlags.keyCertSign | x.KeyUsageFlags.cRLSign, true),
      await x.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: ca.toString('pem') + '\n', key: await exportKeyPem(keys.privateKey) };
}

/** `dfs admin ca init`: a new CA in `dir`; refuses to overwrite one. */
export async function initCa(dir: string, opts: { name?: string; years?: number } = {}): Promise<CaInfo> {
  if (existsSync(join(dir, CA_FILES.key))) throw new DfsError(ErrorCode.ALREADY_EXISTS, `${dir} already holds a CA (${CA_FILES.key})`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { cert, key } = await newCa(opts.name ?? 'dfs cluster CA', opts.years ?? 10);
  writeAtomic(join(dir, CA_FILES.key), key, 0o600);
  writeAtomic(join(dir, CA_FILES.cert), cert, 0o644);
  writeAtomic(join(dir, CA_FILES.bundle), cert, 0o644);
  return caInfo(dir);
}

/** The CA in `dir`, creating it when there is none (what `dfs cluster up` does). */
export async function ensureCa(dir: string): Promise<CaInfo> {
  return existsSync(join(dir, CA_FILES.key)) ? caInfo(dir) : initCa(dir);
}

/**
 * `dfs admin ca rotate`: a new signing CA; the bundle trusts the new and every old CA, so
 * nodes can be re-issued one by one. `retireOldCas` ends the switch.
 */
export async function rotateCa(dir: string, opts: { name?: string; years?: number } = {}): Promise<CaInfo> {
  const old = readCaFiles(dir);
  const { cert, key } = await newCa(opts.name ?? 'dfs cluster CA', opts.years ?? 10);
  writeAtomic(join(dir, CA_FILES.bundle), cert + old.bundle, 0o644);
  writeAtomic(join(dir, CA_FILES.key), key, 0o600);
  writeAtomic(join(dir, CA_FILES.cert), cert, 0o644);
  return caInfo(dir);
}

/** After a rotation, once every node has a certificate from the new CA: trust only it. */
export function retireOldCas(dir: string): CaInfo {
  const { cert } = readCaFiles(dir);
  writeAtomic(join(dir, CA_FILES.bundle), cert, 0o644);
  return caInfo(dir);
}

/** Step one of a rotation, for every node and user: their ca.crt becomes the CA's bundle (reloaded live). */
export function refreshTrust(caDir: string, out: string): void {
  writeAtomic(join(out, CREDENTIAL_FILES.ca), readCaFiles(caDir).bundle, 0o644);
}

function readCaFiles(dir: string): { cert: string; key: string; bundle: string } {
  try {
    const cert = readFileSync(join(dir, CA_FILES.cert), 'utf8');
    const key = readFileSync(join(dir, CA_FILES.key), 'utf8');
    const bundlePath = join(dir, CA_FILES.bundle);
    const bundle = existsSync(bundlePath) ? readFileSync(bundlePath, 'utf8') : cert;
    return { cert, key, bundle };
  } catch (err) {
    throw new DfsError(ErrorCode.NOT_FOUND, `no CA in ${dir} (${(err as Error).message}); create one with \`dfs admin ca init --dir ${dir}\``);
  }
}

export interface IssueOptions {
  /** The CA directory. */
  ca: string;
  identity: Identity;
  /** Host names and IP addresses the certificate is valid for (nodes: every address they are dialled at). */
  hosts?: string[];
  /** The credentials directory to write (ca.crt, tls.crt, tls.key). */
  out: string;
  days?: number;
}

export interface IssuedCertificate {
  out: string;
  uri: string;
  fingerprint: string;
  notAfter: string;
}

/** `dfs admin cert issue`: a certificate naming `identity`, signed by the CA, written with its key (0600). */
export async function issueCertificate(opts: IssueOptions): Promise<IssuedCertificate> {
  if (!isValidIdentityName(opts.identity.name)) {
    throw new DfsError(ErrorCode.INVALID_ARGUMENT, `--name: not a valid id (letters, digits, . _ -; up to 64): ${JSON.stringify(opts.identity.name)}`);
  }
  const x = lib();
  const ca = readCaFiles(opts.ca);
  const caCert = new x.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey('pkcs8', pemBody(ca.key), ALG, false, ['sign']);
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const uri = identityUri(opts.identity);
  const names: Array<{ type: 'url' | 'dns' | 'ip'; value: string }> = [{ type: 'url', value: uri }];
  for (const h of opts.hosts ?? []) names.push({ type: isIP(h) ? 'ip' : 'dns', value: h });
  const now = Date.now();
  const cert = await x.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${opts.identity.name}, OU=${opts.identity.role}`,
    issuer: caCert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (opts.days ?? 825) * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALG,
    extensions: [
      new x.BasicConstraintsExtension(false, undefined, true),
      new x.KeyUsagesExtension(x.KeyUsageFlags.digitalSignature, true),
      new x.ExtendedKeyUsageExtension([x.ExtendedKeyUsage.serverAuth, x.ExtendedKeyUsage.clientAuth]),
      new x.SubjectAlternativeNameExtension(names),
      await x.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  mkdirSync(opts.out, { recursive: true, mode: 0o700 });
  // Key first, then certificate: a reloading reader that sees the new certificate finds its key.
  writeAtomic(join(opts.out, CREDENTIAL_FILES.key), await exportKeyPem(keys.privateKey), 0o600);
  writeAtomic(join(opts.out, CREDENTIAL_FILES.cert), cert.toString('pem') + '\n', 0o644);
  writeAtomic(join(opts.out, CREDENTIAL_FILES.ca), ca.bundle, 0o644);
  const node = new X509Certificate(cert.toString('pem'));
  return { out: opts.out, uri, fingerprint: node.fingerprint256, notAfter: node.validTo };
}

function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** The CA certificates of a bundle, one PEM each. */
export function splitPemBundle(pem: string): string[] {
  return pem.match(PEM_CERT) ?? [];
}
