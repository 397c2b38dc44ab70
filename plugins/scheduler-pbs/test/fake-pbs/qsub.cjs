'use strict';
// Fake `qsub <script>`: reads `#PBS` directives and options the way PBS Pro's qsub does,
// validates them, spools the script, starts a "mom" for the job and prints its id
// (`<seq>.<server>`, or `<seq>[].<server>` for a job array).
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const lib = require('./lib.cjs');

const argv = process.argv.slice(2);
lib.logCall('qsub', argv);

function fail(message, code) {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

const cfg = lib.config();
if (cfg.qsubFailures > 0) {
  cfg.qsubFailures -= 1;
  lib.saveConfig(cfg);
  fail(`Connection refused\nqsub: cannot connect to server ${cfg.server} (errno=15010)`, 1);
}

const WITH_VALUE = new Set([
  '-N',
  '-q',
  '-A',
  '-P',
  '-l',
  '-J',
  '-W',
  '-j',
  '-o',
  '-e',
  '-r',
  '-v',
]);
const FLAGS = new Set(['-V']);

function parseOptions(tokens, into) {
  const rest = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (WITH_VALUE.has(token)) {
      const value = tokens[++i];
      if (value === undefined) fail(`qsub: option requires an argument -- '${token.slice(1)}'`, 2);
      into.push([token, value]);
    } else if (FLAGS.has(token)) {
      into.push([token, true]);
    } else if (token.startsWith('-')) {
      fail(
        `qsub: invalid option -- '${token.slice(1)}'\nusage: qsub [-J X-Y[:Z]] [-l resource_list] ... [script]`,
        2,
      );
    } else {
      rest.push(token);
    }
  }
  return rest;
}

const cliOptions = [];
const operands = parseOptions(argv, cliOptions);
if (operands.length !== 1) fail('usage: qsub [options] script', 2);
const scriptPath = path.resolve(operands[0]);
let script;
try {
  script = fs.readFileSync(scriptPath, 'utf8');
} catch {
  fail(`qsub: script file:: No such file or directory`, 2);
}

// Directives: `#PBS` lines before the first command line; the command line overrides them.
const directiveOptions = [];
for (const line of script.split('\n').slice(script.startsWith('#!') ? 1 : 0)) {
  const trimmed = line.trim();
  if (trimmed === '') continue;
  if (trimmed.startsWith('#PBS')) {
    parseOptions(trimmed.slice(4).trim().split(/\s+/), directiveOptions);
  } else if (!trimmed.startsWith('#')) {
    break;
  }
}
const options = [...directiveOptions, ...cliOptions];
const single = (flag) =>
  options
    .filter(([f]) => f === flag)
    .map(([, v]) => v)
    .at(-1);

const resources = {};
for (const [flag, value] of options) {
  if (flag !== '-l') continue;
  for (const item of value.split(',')) {
    const eq = item.indexOf('=');
    if (eq < 0) fail(`qsub: illegal -l value`, 2);
    resources[item.slice(0, eq)] = item.slice(eq + 1);
  }
}

const chunk = { ncpus: 1 };
const select = resources.select ?? '1:ncpus=1';
{
  const parts = select.split(':');
  if (!/^\d+$/.test(parts[0]))
    fail('qsub: Illegal attribute or resource value Resource_List.select', 166);
  for (const part of parts.slice(1)) {
    const [name, value] = part.split('=');
    if (value === undefined)
      fail('qsub: Illegal attribute or resource value Resource_List.select', 166);
    if (name === 'mem' || name === 'vmem') {
      if (!lib.isSize(value))
        fail('qsub: Illegal attribute or resource value Resource_List.select', 166);
      chunk[name] = value;
    } else if (['ncpus', 'ngpus', 'mpiprocs', 'ompthreads'].includes(name)) {
      if (!/^\d+$/.test(value))
        fail('qsub: Illegal attribute or resource value Resource_List.select', 166);
      chunk[name] = Number(value);
    } else if (['host', 'vnode', 'arch'].includes(name)) {
      chunk[name] = value;
    } else {
      fail(`qsub: Unknown resource Resource_List.${name}`, 162);
    }
  }
}
let walltime;
if (resources.walltime !== undefined) {
  walltime = lib.parseDuration(resources.walltime);
  if (walltime === undefined)
    fail('qsub: Illegal attribute or resource value Resource_List.walltime', 166);
}
const queue = single('-q') ?? cfg.defaultQueue;
if (!cfg.queues.includes(queue)) fail('qsub: Unknown queue', 170);
if (chunk.ncpus > cfg.maxNcpus || (chunk.ngpus ?? 0) > cfg.maxNgpus) {
  fail('qsub: Job exceeds queue resource limits', 188);
}

let array;
const range = single('-J');
if (range !== undefined) {
  const m = /^(\d+)-(\d+)(?::(\d+))?(?:%(\d+))?$/.exec(range);
  if (m === null || Number(m[1]) >= Number(m[2])) fail('qsub: illegal -J value', 2);
  array = { start: Number(m[1]), end: Number(m[2]), step: Number(m[3] ?? 1) };
}

let depend;
for (const [flag, value] of options) {
  if (flag !== '-W' || !value.startsWith('depend=')) continue;
  const spec = value.slice('depend='.length);
  const [type, ...ids] = spec.split(':');
  if (type !== 'afterok' || ids.length === 0) fail(`qsub: illegal -W value`, 2);
  for (const id of ids) {
    const parsed = lib.parseId(id);
    if (parsed === undefined || lib.readRecord(parsed.seq) === undefined) {
      fail(`qsub: Unknown Job Id ${id}`, 153);
    }
  }
  depend = ids;
}

const seq = lib.nextSeq();
const spooled = path.join(lib.HOME, 'jobs', `${seq}.SC`);
fs.writeFileSync(spooled, script);
const now = Date.now();
const name = single('-N') ?? path.basename(scriptPath).slice(0, 15);
const record = {
  seq,
  server: cfg.server,
  name,
  queue,
  account: single('-A'),
  project: single('-P'),
  script: spooled,
  workdir: process.cwd(),
  select,
  chunk,
  walltime,
  join: single('-j') ?? 'n',
  outputPath: single('-o') ?? path.join(process.cwd(), `${name}.o${seq}`),
  errorPath: single('-e') ?? path.join(process.cwd(), `${name}.e${seq}`),
  depend,
  array,
  state: 'Q',
  ctime: now,
  qtime: now,
  etime: now,
  submitArgs: argv.join(' '),
  subjobs: {},
};
if (array !== undefined) {
  for (let i = array.start; i <= array.end; i += array.step) record.subjobs[i] = { state: 'Q' };
}
lib.writeRecord(record);
const mom = spawn(process.execPath, [path.join(__dirname, 'mom.cjs'), String(seq)], {
  detached: true,
  stdio: 'ignore',
  env: process.env,
});
mom.unref();
process.stdout.write(`${lib.jobId(record, array === undefined ? undefined : '')}\n`);
