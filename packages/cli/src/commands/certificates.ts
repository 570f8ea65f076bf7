import type { Command } from 'commander';
import { resolveCaDir } from '@dfs/client';
import { DfsError, ErrorCode } from '@dfs/proto';
import { initCa, issueCertificate, refreshTrust, retireOldCas, rotateCa, ROLES, type CaInfo, type Role } from '@dfs/security';
import { parseIntFlag } from './shared.js';

function printCa(verb: string, ca: CaInfo): void {
  process.stdout.write(`${verb} ${ca.dir}: ${ca.subject.replace(/\n/g, ', ')}, SHA-256 ${ca.fingerprint}, valid until ${ca.notAfter}\n`);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(',').map((h) => h.trim()).filter(Boolean)];
}

/** `dfs admin ca …` and `dfs admin cert issue`: the cluster CA and the certificates it signs (docs/security.md). */
export function registerCertificateCommands(program: Command): void {
  const admin = program.commands.find((c) => c.name() === 'admin') ?? program.command('admin').description('cluster administration');
  const ca = admin.command('ca').description('the cluster certificate authority');
  ca.command('init')
    .description('create a CA: DIR/ca.crt, DIR/ca.key (0600), DIR/bundle.crt')
    .requiredOption('--dir <dir>', 'CA directory (must not hold a CA yet)')
    .option('--name <cn>', 'CA common name', 'dfs cluster CA')
    .option('--years <n>', 'validity in years', '10')
    .action(async (o: { dir: string; name: string; years: string }) => {
      printCa('created CA in', await initCa(o.dir, { name: o.name, years: parseIntFlag(o.years, 'years', 10) }));
    });
  ca.command('rotate')
    .description('start a CA rotation: a new signing CA; bundle.crt trusts the new and the old (see docs/security.md)')
    .requiredOption('--dir <dir>', 'CA directory')
    .action(async (o: { dir: string }) => printCa('new signing CA in', await rotateCa(o.dir)));
  ca.command('retire-old')
    .description('end a CA rotation: bundle.crt trusts only the current CA')
    .requiredOption('--dir <dir>', 'CA directory')
    .action((o: { dir: string }) => printCa('trusting only the current CA in', retireOldCas(o.dir)));
  ca.command('trust')
    .description("copy the CA's bundle into a credentials directory's ca.crt (a running process reloads it)")
    .requiredOption('--out <dir>', 'credentials directory')
    .option('--ca <dir>', 'CA directory (default: DFS_CA_DIR, config file, .dfs-data/cluster.json)')
    .action((o: { out: string; ca?: string }) => {
      refreshTrust(resolveCaDir(o.ca), o.out);
      process.stdout.write(`${o.out}/ca.crt updated\n`);
    });

  const cert = admin.command('cert').description('certificates for nodes, users and admins');
  cert
    .command('issue')
    .description('issue a certificate: OUT/tls.crt, OUT/tls.key (0600) and OUT/ca.crt; the identity is a SAN URI dfs://ROLE/NAME')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .requiredOption('--name <id>', "node id (m1, c3) or user name (a client's name is its user)")
    .option('--host <name-or-ip>', 'a host name or IP the node is dialled at (repeat or comma-separate)', collect, [] as string[])
    .requiredOption('--out <dir>', 'credentials directory to write')
    .option('--ca <dir>', 'CA directory (default: DFS_CA_DIR, config file, .dfs-data/cluster.json)')
    .option('--days <n>', 'validity in days', '825')
    .action(async (o: { role: string; name: string; host: string[]; out: string; ca?: string; days: string }) => {
      if (!(ROLES as readonly string[]).includes(o.role)) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `--role: expected one of ${ROLES.join(', ')}, got ${JSON.stringify(o.role)}`);
      const role = o.role as Role;
      if ((role === 'master' || role === 'chunkserver') && o.host.length === 0) {
        throw new DfsError(ErrorCode.INVALID_ARGUMENT, `--host: a ${role} certificate needs the host names or IPs it is dialled at`);
      }
      const issued = await issueCertificate({ ca: resolveCaDir(o.ca), identity: { role, name: o.name }, hosts: o.host, out: o.out, days: parseIntFlag(o.days, 'days', 825) });
      process.stdout.write(`issued ${issued.uri} in ${issued.out} (SHA-256 ${issued.fingerprint}, valid until ${issued.notAfter})\n`);
    });
}
