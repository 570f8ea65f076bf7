/*
 * The heavy packages, required on first use rather than at start-up: @dfs/proto brings
 * grpc-js, http2 and TLS, @dfs/client and @dfs/security build on it, yaml reads config files.
 * A command that never talks to the cluster (--version, --help, a usage error) loads none of
 * them. Literal requires, so the bundler (scripts/bundle.mjs) still sees them.
 */
export const loadProto = (): typeof import('@dfs/proto') => require('@dfs/proto') as typeof import('@dfs/proto');
export const loadClient = (): typeof import('@dfs/client') => require('@dfs/client') as typeof import('@dfs/client');
export const loadSecurity = (): typeof import('@dfs/security') => require('@dfs/security') as typeof import('@dfs/security');
export const loadYaml = (): typeof import('yaml') => require('yaml') as typeof import('yaml');
