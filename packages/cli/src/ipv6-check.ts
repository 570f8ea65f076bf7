import { isIPv6 } from 'node:net';
import { setFlagsFromString } from 'node:v8';

/**
 * Compiles Node 20's `net.isIPv6` regular expression to machine code, once, before grpc-js
 * uses it. That expression is large: V8 first compiles it to bytecode and interprets it
 * (~20 ms of CPU here on its first call) and compiles it to machine code on the second
 * (~3-9 ms more), and grpc-js calls it for every master address a fresh process connects to.
 * Compiled directly it costs ~5 ms. Tier-up is switched off for this one compilation only,
 * so every other expression in the process is compiled as usual; left alone when the user
 * set the flag.
 */
export function compileIpv6CheckOnce(): void {
  const nodeOptions = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  if (nodeOptions.includes('regexp-tier-up')) return;
  setFlagsFromString('--no-regexp-tier-up');
  try {
    isIPv6('127.0.0.1');
  } finally {
    setFlagsFromString('--regexp-tier-up');
  }
}
