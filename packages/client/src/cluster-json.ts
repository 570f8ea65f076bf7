/**
 * `DIR/cluster.json`, written by `dfs cluster up` once every node is ready: the contract
 * between the launcher, the tools that find masters through it, the tests and the benchmarks.
 */
export interface ClusterJson {
  masters: ClusterNode[];
  chunkservers: ClusterNode[];
  chunkSize?: number;
  /** The CA and the credentials directories of the local user and admin (absent with --insecure). */
  tls?: ClusterTls;
  /** Set when the cluster runs plaintext (--insecure). */
  insecure?: boolean;
  /** On hosts only (`dfs cluster up --hosts`): the bridge namespace and the host clients run in. */
  network?: { bridgeNs: string; client: HostEntry; hosts: Array<HostEntry & { veth: string }> };
}

/** Where a node runs when the cluster is on hosts (network namespaces). */
export interface HostEntry {
  name: string;
  ns: string;
  address: string;
}

/** What `dfs cluster up` records in cluster.json about its certificates. */
export interface ClusterTls {
  ca: string;
  client: string;
  admin: string;
}

export interface ClusterNode {
  id: string;
  /** gRPC address host:port. */
  address: string;
  /** HTTP status + /metrics address host:port. */
  http: string;
  /** The node process itself (not a wrapper). */
  pid: number;
  /** Its data directory. */
  dir: string;
  /** The `dfs` arguments that started it, so a test can restart a killed node. */
  args: string[];
  /** Its log file (stdout and stderr). */
  log: string;
  /** On hosts only: the namespace it runs in (restart it with `ip netns exec <ns> …`). */
  host?: HostEntry;
}
