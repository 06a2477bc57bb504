// The command line as commander sees it: Go flag spellings brought to commander's, the flags defined on a command
// with their help text, and commander's errors turned into one line.
import { Command, CommanderError, Option } from 'commander';
import { FLAGS, flagSpec, type FlagSpec } from './flag-table.js';

/**
 * Rewrites Go flag spellings into commander's: a single-dash long flag becomes double-dash, a bare bool flag gets
 * `=true` (Go bools take a value only through `=`), and `-v=N` becomes `-v N`. Values and operands are left alone.
 */
export function normalizeArgv(args: readonly string[]): string[] {
  const out: string[] = [];
  let expectValue = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (expectValue) {
      out.push(arg);
      expectValue = false;
      continue;
    }
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (arg === '-v' || arg === '--v') {
      out.push('-v');
      expectValue = true;
      continue;
    }
    const v = /^--?v=(.*)$/.exec(arg);
    if (v) {
      out.push('-v', v[1] as string);
      continue;
    }
    const m = /^--?([A-Za-z][A-Za-z0-9_-]+)(=.*)?$/.exec(arg);
    if (!m) {
      out.push(arg);
      continue;
    }
    const name = m[1] as string;
    const value = m[2];
    const spec = flagSpec(name);
    if (spec === undefined) {
      // Not ours: may be grouped short flags of an operator command (`-ic`), so it is left as written.
      out.push(arg);
      continue;
    }
    if (value !== undefined) out.push(`--${name}${value}`);
    else if (spec.kind === 'bool') out.push(`--${name}=true`);
    else {
      out.push(`--${name}`);
      expectValue = true;
    }
  }
  return out;
}

/** `(default: "/run/flannel/subnet.env")`, `(default: 60)`, `(default: false)`; '' when there is none to show. */
function defaultText(f: FlagSpec): string {
  const d = f.defaultValue;
  if (d === undefined || d === '') return '';
  return ` (default: ${f.kind === 'bool' || /^\d+$/.test(d) ? d : JSON.stringify(d)})`;
}

/** How help shows a flag: Go bools as `--ip-masq[=<bool>]`, since a bare `--ip-masq` means true. */
function flagTerm(f: FlagSpec): string {
  return f.kind === 'bool' ? `--${f.name}[=<bool>]` : `--${f.name} <value>`;
}

/**
 * Adds every flanneld flag (and ours) to a command. Commander gets no defaults: resolveOptions applies them after
 * the environment, so help shows them in the descriptions instead.
 */
export function defineFlags(cmd: Command): Command {
  const terms = new Map<string, string>();
  for (const f of FLAGS) {
    const flags = f.kind === 'bool' ? `--${f.name} <bool>` : `--${f.name} <value>`;
    const option = new Option(flags, `${f.description}${defaultText(f)}`);
    if (f.ignored) option.hideHelp();
    if (f.kind === 'list') option.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    terms.set(flags, flagTerm(f));
    cmd.addOption(option);
  }
  cmd.addOption(new Option('-v <level>', 'log verbosity (klog style: 0 info, 2+ debug, 5+ trace)'));
  cmd.configureHelp({ optionTerm: (o) => terms.get(o.flags) ?? o.flags });
  cmd.addHelpText('after', `\n${ENV_HELP}`);
  return cmd;
}

const ENV_HELP = 'Every flag can also be given as FLANNELD_<FLAG> (e.g. FLANNELD_ETCD_ENDPOINTS); the command line wins.\n'
  + 'Go spellings work too: -etcd-endpoints=URL, -ip-masq.';

/** The daemon flags an operator sets most, with their defaults, for the top-level `tsflanneld --help`. */
export function commonFlagsHelp(): string {
  const common = FLAGS.filter((f) => f.common);
  const width = Math.max(...common.map((f) => flagTerm(f).length)) + 2;
  const lines = common.map((f) => `  ${flagTerm(f).padEnd(width)}${f.description}${defaultText(f)}`);
  return `Common flags of the daemon (all of them: tsflanneld run --help):\n${lines.join('\n')}\n\n${ENV_HELP}`;
}

/** Turns commander's `error: unknown option '--x'` into one line without the prefix. */
export function commanderMessage(e: CommanderError): string {
  return e.message.replace(/^error:\s*/, '').split('\n')[0] ?? e.message;
}
