// docs/cli.md against the real command line: every command and every option that `phys --help`
// and each command's help list (the plugin commands of @phys/sweep and @phys/ml-packager
// included, in a project that lists them) is documented there.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cli, fixture } from './helpers/cli.js';

const cliMd = readFileSync(new URL('../../../docs/cli.md', import.meta.url), 'utf8');
const project = fixture('cli-docs');

interface Help {
  /** Command names under "Commands:" and "Plugin commands:". */
  readonly commands: string[];
  /** Option terms as commander prints them: `-s, --set <key=value>`, `--json`. */
  readonly options: string[];
}

/** The commands and options a help text lists (the term is what comes before the description). */
function parseHelp(text: string): Help {
  const commands: string[] = [];
  const options: string[] = [];
  let section = '';
  for (const line of text.split('\n')) {
    const heading = /^(\S.*):$/.exec(line);
    if (heading !== null) {
      section = heading[1] as string;
      continue;
    }
    const term = /^ {2}(\S.*?)(?: {2,}|$)/.exec(line)?.[1];
    if (term === undefined) continue;
    if (/commands$/i.test(section)) commands.push(term.split(' ')[0] as string);
    else if (/options$/i.test(section)) options.push(term);
  }
  return { commands, options };
}

async function helpOf(path: readonly string[]): Promise<Help> {
  const { code, stdout, stderr } = await cli([...path, '--help'], { cwd: project });
  expect(stderr, `phys ${path.join(' ')} --help`).toBe('');
  expect(code).toBe(0);
  return parseHelp(stdout);
}

/** Every command path (`[]`, `['run']`, `['cache', 'ls']`, ...) with its help. */
async function walk(path: readonly string[] = []): Promise<[readonly string[], Help][]> {
  const help = await helpOf(path);
  const found: [readonly string[], Help][] = [[path, help]];
  for (const command of help.commands) {
    if (command === 'help') continue;
    found.push(...(await walk([...path, command])));
  }
  return found;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('docs/cli.md', () => {
  it('documents every command and option of the help, plugin commands included', async () => {
    const tree = await walk();
    const paths = tree.map(([path]) => path.join(' '));
    // The walk reached the plugin commands and the nested ones.
    expect(paths).toEqual(expect.arrayContaining(['sweep', 'package verify', 'cache ls']));

    const missing: string[] = [];
    for (const [path, help] of tree) {
      for (const command of help.commands) {
        // `phys cache help` is commander's; `phys help <command>` is documented at the root.
        if (command === 'help' && path.length > 0) continue;
        // `phys cache stats|ls|...` names `ls` on a line that starts with `phys cache`.
        const named = new RegExp(
          `phys ${[...path].map(escapeRegExp).join(' ')}${path.length > 0 ? ' [^\\n]*?' : ''}\\b${escapeRegExp(command)}\\b`,
        );
        if (!named.test(cliMd)) missing.push(`command \`phys ${[...path, command].join(' ')}\``);
      }
      for (const option of help.options) {
        // `-s, --set <key=value>` is documented as `-s, --set`; `--json` as itself.
        const flags = option
          .split(' ')
          .filter((w) => w.startsWith('-'))
          .join(' ');
        const documented = new RegExp(`${escapeRegExp(flags)}(?![\\w-])`);
        if (!documented.test(cliMd)) {
          missing.push(`option \`${flags}\``);
        }
      }
    }
    expect([...new Set(missing)]).toEqual([]);
  });

  it('documents PHYS_DEBUG, which the help of --verbose names', () => {
    expect(cliMd.includes('PHYS_DEBUG=1')).toBe(true);
  });
});
