import { DfsError, ErrorCode } from '@dfs/proto';
import type { Security } from './credentials.js';

/*
 * What a failed connection means for the person reading it. grpc-js reports a TLS/plaintext
 * mismatch or a refused certificate as a generic UNAVAILABLE carrying an OpenSSL line; this
 * turns it into one line that names the peer and the cause.
 */
const PLAINTEXT_PEER = /wrong version number|packet length too long|record layer failure/i;
const PEER_REFUSED_US = /alert (certificate required|bad certificate|unknown ca|certificate unknown|handshake failure)|alert number 116/i;
const PEER_CERT_BAD = /self[- ]signed|unable to (verify|get local issuer)|certificate (has expired|is not yet valid|signature failure)|not a dfs node|does not match certificate|IP: .* is not in the cert's list/i;

function lastError(message: string): string {
  const m = /Last error: (?:Error: )?(.*?)(?:\. Resolution note:.*)?$/s.exec(message);
  return (m ? m[1]! : message).split('\n')[0]!.trim();
}

export function explainConnectError(err: DfsError, address: string, security: Security): DfsError {
  if (err.code !== ErrorCode.UNAVAILABLE) return err;
  const detail = lastError(err.message);
  let text: string | undefined;
  if (!security.insecure) {
    if (PLAINTEXT_PEER.test(err.message)) text = `${address} speaks plaintext (started with --insecure?) but this process uses TLS`;
    else if (PEER_REFUSED_US.test(err.message)) text = `${address} refused this process's certificate (${detail})`;
    else if (PEER_CERT_BAD.test(err.message)) text = `${address}: its TLS certificate is not acceptable (${detail})`;
  } else if (/Failed to connect \(|Connection dropped|Protocol error/i.test(err.message)) {
    text = `${address} closed a plaintext connection (does it require TLS? this process runs with --insecure)`;
  }
  return text ? new DfsError(ErrorCode.UNAVAILABLE, text, { cause: err }) : err;
}
