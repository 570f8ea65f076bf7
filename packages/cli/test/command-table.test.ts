import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Command } from 'commander';
import { COMMAND_GROUPS, commandNameOf, groupsFor, type CommandGroup } from '../src/command-table.js';

const MAIN = join(__dirname, '..', 'src', 'main.js');

function programWith(groups: readonly CommandGroup[]): Command {
  const program = new Command('dfs');
  for (const group of groups) group.register(program);
  return program;
}

/** A command's help and every subcommand's, as text: what `dfs X --help` and `dfs X Y --help` print. */
function helpTree(cmd: Command): string {
  return [cmd.helpInformation(), ...cmd.commands.map(helpTree)].join('\n');
}

/** The modules `dfs ARGS` loads, run from the compiled sources (not the bundle) so each one shows. */
function modulesLoadedBy(args: string[]): { code: number | null; modules: string[] } {
  const probe = `process.argv.splice(1, 0, 'dfs'); process.on('exit', () => process.stderr.write('\\nMODULES ' + JSON.stringify(Object.keys(require.cache)) + '\\n')); require(${JSON.stringify(MAIN)});`;
  const run = spawnSync(process.execPath, ['-e', probe, '--', ...args], { encoding: 'utf8', env: { ...process.env, DFS_CONFIG: '' } });
  const line = run.stderr.split('\n').find((l) => l.startsWith('MODULES '));
  assert.ok(line, `no module list from dfs ${args.join(' ')}:\n${run.stderr}`);
  return { code: run.status, modules: JSON.parse(line.slice('MODULES '.length)) as string[] };
}

describe('the command table (lazy command loading)', function () {
  this.timeout(60_000);

  it("gives every top-level command, loaded alone, the same help and subcommands as the full program", function () {
    const full = programWith(COMMAND_GROUPS);
    const names = full.commands.map((c) => c.name());
    assert.ok(names.length >= 25, `only ${names.length} commands`);
    for (const name of names) {
      const alone = programWith(groupsFor(name));
      const mine = alone.commands.find((c) => c.name() === name);
      assert.ok(mine, `${name}: not registered by its own groups`);
      assert.equal(helpTree(mine), helpTree(full.commands.find((c) => c.name() === name)!), `${name}: help differs when loaded alone`);
      assert.notEqual(groupsFor(name), COMMAND_GROUPS, `${name}: not in the table (it would load every module)`);
    }
  });

  it('lists only names its groups really register', function () {
    for (const group of COMMAND_GROUPS) {
      const registered = programWith(groupsFor(group.names[0]!)).commands.map((c) => c.name());
      for (const name of group.names) assert.ok(registered.includes(name), `${name} is listed but not registered`);
    }
  });

  it('finds the command word after global options, and loads everything when it does not know it', function () {
    assert.equal(commandNameOf(['stat', '/x']), 'stat');
    assert.equal(commandNameOf(['--config', 'c.yaml', 'put', 'a', '/b']), 'put');
    assert.equal(commandNameOf(['--version']), undefined);
    assert.equal(commandNameOf(['--', 'ls']), 'ls');
    assert.equal(commandNameOf([]), undefined);
    assert.equal(groupsFor('no-such-command'), COMMAND_GROUPS);
    assert.equal(groupsFor(undefined), COMMAND_GROUPS);
    assert.equal(groupsFor('help'), COMMAND_GROUPS, 'help lists every command');
  });

  it('dfs --version loads neither the protocol nor the client; dfs stat loads none of the daemon, CA or config-file code', function () {
    const version = modulesLoadedBy(['--version']);
    assert.equal(version.code, 0);
    const heavy = /[/\\](proto|client|security)[/\\]dist[/\\]|@grpc[/\\]grpc-js|[/\\]yaml[/\\]/;
    assert.deepEqual(version.modules.filter((m) => heavy.test(m)), [], 'dfs --version');

    const stat = modulesLoadedBy(['stat']); // a usage error: the command is registered, no cluster needed
    assert.equal(stat.code, 2);
    assert.ok(stat.modules.some((m) => /commands[/\\]namespace\.js$/.test(m)), 'stat is registered');
    const notForStat = /[/\\]yaml[/\\]|@peculiar|[/\\]telemetry[/\\]dist[/\\]|cli-progress|commands[/\\](daemons|cluster|certificates|data)\.js$|cluster[/\\]launcher\.js$/;
    assert.deepEqual(stat.modules.filter((m) => notForStat.test(m)), [], 'dfs stat');
  });

  it('a config file still registers every command, so its keys are checked against all their flags', function () {
    const run = modulesLoadedBy(['--config', '/nonexistent/dfs.yaml', 'stat', '/x']);
    assert.equal(run.code, 2, 'a missing config file is a usage error');
    assert.ok(run.modules.some((m) => /commands[/\\]daemons\.js$/.test(m)), 'every command is registered');
  });
});
