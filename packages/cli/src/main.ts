import { Command, CommanderError } from 'commander';
import { COMMAND_GROUPS, commandNameOf, groupsFor } from './command-table.js';
import { closeClient } from './context.js';
import { applyConfig, configPathFrom, loadConfig } from './config-file.js';
import { EXIT, EXIT_CODES_HELP, exitCodeFor } from './exit-codes.js';
import { loadProto } from './lazy.js';
import { dfsVersion } from './package-root.js';

/** The program for this command line (`args`: argv without node and the script). */
function buildProgram(args: readonly string[], configPath: string | undefined): Command {
  const program = new Command('dfs')
    .description('dfs: a distributed file system. Masters come from --masters, DFS_MASTERS, ~/.config/dfs/config.json or ./.dfs-data/cluster.json.')
    .version(`dfs ${dfsVersion()}`, '-V, --version', 'print the dfs version and exit')
    .exitOverride()
    .showHelpAfterError('(run `dfs help` or `dfs COMMAND --help`)');
  // Only the named command's module when the command line names one (`dfs stat` loads neither
  // the daemons nor the certificate tools); none for a bare --version; every module for help,
  // a config file (its keys are checked against every command's flags) or an unknown name.
  const name = commandNameOf(args);
  const versionOnly = name === undefined && (args.includes('--version') || args.includes('-V'));
  const groups = configPath !== undefined ? COMMAND_GROUPS : versionOnly ? [] : groupsFor(name);
  for (const group of groups) group.register(program);
  program.option('--config <file>', 'YAML config file with any command\'s flags (default: DFS_CONFIG); flags and DFS_* variables override it');
  program
    .command('config')
    .description('the config file')
    .command('check')
    .description('check a config file: every problem is reported at once; exit 0 when it is good')
    .argument('<file>', 'YAML config file')
    .action((file: string) => {
      const c = loadConfig(file, program);
      const counts = [...c.sections].filter(([, v]) => v.size > 0).map(([k, v]) => `${k} ${v.size}`);
      process.stdout.write(`${file}: ok (${counts.join(', ') || 'empty'})\n`);
    });
  program.addHelpCommand(false);
  program
    .command('help')
    .description('show help for a command, or a topic: exit-codes')
    .argument('[topic]', 'command name or exit-codes')
    .action((topic?: string) => {
      if (topic === 'exit-codes') {
        process.stdout.write(EXIT_CODES_HELP + '\n');
        return;
      }
      const cmd = topic ? program.commands.find((c) => c.name() === topic) : undefined;
      (cmd ?? program).outputHelp();
    });
  program.addHelpText('after', `\n${EXIT_CODES_HELP}`);
  return program;
}

async function main(argv: string[]): Promise<void> {
  // A reader that closes the pipe early (`dfs ls / | head -1`) ends the command quietly, as
  // `ls | head -1` ends ls: it was an unhandled EPIPE with a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(EXIT.OK);
  });
  const args = argv.slice(2);
  // `dfs config check` reads its file itself: a broken DFS_CONFIG must not stop it.
  const configPath = args[0] === 'config' ? undefined : configPathFrom(args);
  const program = buildProgram(args, configPath);
  try {
    // Before parsing, so values come out as flag > DFS_* variable > file > default.
    applyConfig(program, configPath ? loadConfig(configPath, program) : undefined);
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed the message (or help / version).
      process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      return;
    }
    const dfsErr = loadProto().toDfsError(err);
    process.stderr.write(`dfs: ${dfsErr.message}\n`);
    if (process.env.DFS_DEBUG) process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = exitCodeFor(dfsErr);
  } finally {
    // Daemon commands keep running on their own servers; client commands are done. A
    // connection attempt to an unreachable master (a partitioned host drops the SYNs) would
    // keep the process alive until its connect timeout: a finished command exits now.
    if (closeClient()) {
      await flushed(process.stdout);
      await flushed(process.stderr);
      process.exit();
    }
  }
}

/**
 * Resolves once everything written to `stream` so far has been handed to the OS. A pipe to
 * a slow reader queues writes, and process.exit() drops that queue: `dfs ls` under load
 * printed 520 of 1,500 names and exited 0.
 */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) return resolve();
    stream.write('', () => resolve());
  });
}

void main(process.argv);
