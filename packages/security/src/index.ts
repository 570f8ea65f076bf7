// @dfs/security: the cluster CA and certificates, node and user identities, and the one
// place gRPC credentials are built (mutual TLS 1.3, or plaintext with --insecure).
export {
  type Role,
  type Identity,
  type AuthenticatedCall,
  ROLES,
  callerOf,
  requireRole,
  describeIdentity,
  identityUri,
  parseIdentityUri,
  identityFromSubjectAltName,
  identityOfCertificate,
  isValidIdentityName,
} from './identity.js';
export {
  type Security,
  INSECURE,
  tlsFrom,
  describeSecurity,
  serverCredentials,
  channelCredentials,
  enableCredentialReload,
  httpTls,
  logRefusedHandshakes,
  describeHandshakeFailure,
  reloadCredentials,
} from './credentials.js';
export { explainConnectError } from './connect-errors.js';
export { CREDENTIAL_FILES, credentialPaths, readCredentials, type CredentialPaths, type CredentialBytes } from './credential-files.js';
export {
  CA_FILES,
  initCa,
  ensureCa,
  rotateCa,
  retireOldCas,
  refreshTrust,
  issueCertificate,
  splitPemBundle,
  type CaInfo,
  type IssueOptions,
  type IssuedCertificate,
} from './certificate-authority.js';
export {
  type ChunkOp,
  type ChunkTokenClaims,
  type ChunkTokenKey,
  type DecodedChunkToken,
  type TokenRequirement,
  CHUNK_OPS,
  MAX_CHUNK_TOKEN_BYTES,
  MAX_TOKEN_NODES,
  ChunkKeyRing,
  newChunkTokenKey,
  mintChunkToken,
  decodeChunkToken,
  verifyChunkToken,
  signingKeyOf,
} from './chunk-token.js';
