import { readFileSync } from 'node:fs';
import type { Command, Option } from 'commander';
import { loadProto, loadYaml } from './lazy.js';

/*
 * The config file (`--config FILE` or DFS_CONFIG): YAML with one section per kind of
 * process, whose keys are exactly the long flags of that command:
 *
 *   masters: [m1.example:7001, m2.example:7001, m3.example:7001]   # default for client + chunkserver
 *   master:      { id: m1, dir: /var/lib/dfs, listen: 0.0.0.0:7001, advertise: m1.example:7001, peers: {m1: …} }
 *   chunkserver: { id: c1, dir: /var/lib/dfs, listen: 0.0.0.0:7101, advertise: c1.example:7101, rack: r1 }
 *   client:      { read-policy: random }
 *
 * Precedence, highest first: a flag on the command line, a DFS_<FLAG> environment variable
 * (DFS_LISTEN, DFS_ADVERTISE, DFS_MASTERS, …), the config file, the built-in default.
 * Commander implements that order for values whose source is 'config'.
 */

/** Which section configures a command: the daemons and `cluster up` have their own, everything else is a client. */
const SECTIONS = ['master', 'chunkserver', 'cluster', 'client'] as const;
type Section = (typeof SECTIONS)[number];

export function sectionOf(cmd: Command): Section {
  const path: string[] = [];
  for (let c: Command | null = cmd; c && c.parent; c = c.parent) path.unshift(c.name());
  if (path[0] === 'master' || path[0] === 'chunkserver') return path[0];
  if (path[0] === 'cluster') return 'cluster';
  return 'client';
}

/** Options a config file may not set: they name the file, or are per-invocation. */
const NOT_CONFIGURABLE = new Set(['config', 'help', 'request-id', 'json', 'restore']); // restore: once, by hand (a second start would refuse it)

function flagName(opt: Option): string {
  return (opt.long ?? '').replace(/^--/, '');
}

export function envName(flag: string): string {
  return `DFS_${flag.replace(/-/g, '_').toUpperCase()}`;
}

/** Every command in the tree that has an action, with its configurable options. */
function leafCommands(program: Command): Command[] {
  const out: Command[] = [];
  const walk = (c: Command): void => {
    if (c.commands.length === 0) out.push(c);
    c.commands.forEach(walk);
  };
  program.commands.forEach(walk);
  return out;
}

/** The flags each section accepts (the union over its commands), with the option that describes each. */
function allowedKeys(program: Command): Map<Section, Map<string, Option>> {
  const keys = new Map<Section, Map<string, Option>>(SECTIONS.map((s) => [s, new Map()]));
  for (const cmd of leafCommands(program)) {
    const section = keys.get(sectionOf(cmd))!;
    for (const opt of cmd.options as readonly Option[]) {
      const name = flagName(opt);
      if (name && !NOT_CONFIGURABLE.has(name) && !section.has(name)) section.set(name, opt);
    }
  }
  return keys;
}

type Scalar = string | number | boolean;

/** A YAML value as the text a flag would carry: lists join with ',', maps become k=v,k=v. */
function asFlagValue(v: unknown, where: string, errors: string[]): string | boolean | undefined {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number')) return (v as Scalar[]).join(',');
  if (v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string' || typeof x === 'number')) {
    return Object.entries(v as Record<string, Scalar>).map(([k, x]) => `${k}=${x}`).join(',');
  }
  errors.push(`${where}: expected a string, number, boolean, list or map of strings, got ${JSON.stringify(v)}`);
  return undefined;
}

/** Checks one value by what its flag takes (the placeholder in its help: <host:port>, <bytes>, <duration>, <n>). */
function checkValue(opt: Option, value: string | boolean, where: string, errors: string[]): void {
  const { parseDuration, parseSize, splitHostPort } = loadProto();
  const wantsValue = opt.required || opt.optional;
  if (!wantsValue) {
    if (typeof value !== 'boolean') errors.push(`${where}: is a switch, expected true or false`);
    return;
  }
  if (typeof value === 'boolean') {
    errors.push(`${where}: expected a value, got ${value}`);
    return;
  }
  const placeholder = /<([^>]+)>/.exec(opt.flags)?.[1] ?? '';
  const name = flagName(opt);
  try {
    if (placeholder === 'host:port') splitHostPort(value);
    else if (placeholder === 'bytes') parseSize(value);
    else if (placeholder === 'duration') parseDuration(value);
    else if (placeholder === 'n' && !/^\d+$/.test(value)) throw new Error(`not a non-negative integer: ${value}`);
    else if (name === 'masters' && placeholder === 'list') value.split(',').forEach((a) => splitHostPort(a.trim()));
    else if ((name === 'peers' || name === 'peers-http') && placeholder === 'list') {
      for (const pair of value.split(',')) {
        const [id, address] = pair.split('=');
        if (!id || !address) throw new Error(`expected ID=HOST:PORT, got ${JSON.stringify(pair)}`);
        splitHostPort(address);
      }
    }
  } catch (err) {
    errors.push(`${where}: ${(err as Error).message}`);
  }
}

export interface LoadedConfig {
  path: string;
  /** Flag values by section, as the command line would carry them. */
  sections: Map<Section, Map<string, string | boolean>>;
}

/**
 * Reads and checks a config file against the program's flags. Collects every problem
 * (YAML syntax with line numbers, unknown sections and keys, bad values) and throws them
 * all at once as one INVALID_ARGUMENT.
 */
export function loadConfig(path: string, program: Command): LoadedConfig {
  const { DfsError, ErrorCode } = loadProto();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new DfsError(ErrorCode.INVALID_ARGUMENT, `config ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const errors: string[] = [];
  const doc = loadYaml().parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  for (const e of doc.errors) errors.push(`${path}:${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`);
  const root: unknown = errors.length ? {} : doc.toJS() ?? {};
  const sections = new Map<Section, Map<string, string | boolean>>(SECTIONS.map((s) => [s, new Map()]));
  if (root === null || typeof root !== 'object' || Array.isArray(root)) {
    errors.push(`${path}: expected a map of sections (${SECTIONS.join(', ')}) at the top`);
  } else {
    const allowed = allowedKeys(program);
    const lineOf = (keyPath: string[]): string => {
      const node = doc.getIn(keyPath, true) as { range?: [number, number, number] } | undefined;
      const offset = node?.range?.[0];
      return offset === undefined ? '' : `:${text.slice(0, offset).split('\n').length}`;
    };
    for (const [key, value] of Object.entries(root as Record<string, unknown>)) {
      if (key === 'masters') {
        const v = asFlagValue(value, `${path}${lineOf([key])}: masters`, errors);
        if (typeof v === 'string') {
          for (const s of ['client', 'chunkserver'] as const) sections.get(s)!.set('masters', v);
          checkValue(allowed.get('client')!.get('masters')!, v, `${path}${lineOf([key])}: masters`, errors);
        }
        continue;
      }
      if (!(SECTIONS as readonly string[]).includes(key)) {
        errors.push(`${path}${lineOf([key])}: unknown section "${key}" (known: masters, ${SECTIONS.join(', ')})`);
        continue;
      }
      const section = key as Section;
      if (value === null) continue;
      if (typeof value !== 'object' || Array.isArray(value)) {
        errors.push(`${path}${lineOf([key])}: section "${key}" must be a map of flags`);
        continue;
      }
      const flags = allowed.get(section)!;
      for (const [flag, raw] of Object.entries(value as Record<string, unknown>)) {
        const where = `${path}${lineOf([key, flag])}: ${key}.${flag}`;
        const opt = flags.get(flag);
        if (!opt) {
          errors.push(`${where}: unknown flag for ${key} (known: ${[...flags.keys()].sort().join(', ')})`);
          continue;
        }
        const v = asFlagValue(raw, where, errors);
        if (v === undefined) continue;
        checkValue(opt, v, where, errors);
        sections.get(section)!.set(flag, v);
      }
    }
  }
  if (errors.length > 0) {
    throw new DfsError(ErrorCode.INVALID_ARGUMENT, `${errors.length} problem${errors.length === 1 ? '' : 's'} in ${path}:\n  ${errors.join('\n  ')}`);
  }
  return { path, sections };
}

/**
 * Gives every command the config file's values (source 'config') and binds each daemon
 * flag to its DFS_<FLAG> variable, so the command line beats the environment beats the file.
 */
export function applyConfig(program: Command, config: LoadedConfig | undefined): void {
  for (const cmd of leafCommands(program)) {
    const section = sectionOf(cmd);
    const values = config?.sections.get(section);
    for (const opt of cmd.options as readonly Option[]) {
      const flag = flagName(opt);
      if (!flag || NOT_CONFIGURABLE.has(flag)) continue;
      // Environment variables for the daemons' flags, and the masters list everywhere.
      // (`cluster up` is left alone: its --masters is a count, not DFS_MASTERS.)
      const v = values?.get(flag);
      if (v !== undefined) cmd.setOptionValueWithSource(opt.attributeName(), v, 'config');
      // Set here rather than with commander's Option.env(), which only works when given before
      // the option is added; the command line still overrides both when it is parsed.
      const fromEnv = (section === 'master' || section === 'chunkserver' || flag === 'masters') && section !== 'cluster' ? process.env[envName(flag)] : undefined;
      if (fromEnv !== undefined && fromEnv !== '') cmd.setOptionValueWithSource(opt.attributeName(), opt.required || opt.optional ? fromEnv : true, 'env');
    }
  }
}

/** The config file named by `--config FILE` / `--config=FILE` anywhere in argv, else DFS_CONFIG. */
export function configPathFrom(argv: string[], env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a === '--config') return argv[i + 1];
    if (a.startsWith('--config=')) return a.slice('--config='.length);
  }
  return env.DFS_CONFIG || undefined;
}
