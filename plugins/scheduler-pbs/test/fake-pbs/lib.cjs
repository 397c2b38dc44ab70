'use strict';
// Shared state of the fake PBS server: one JSON record per job under $FAKE_PBS_HOME/jobs,
// written only by the job's own "mom" process after qsub created it (qdel leaves request files).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const HOME = process.env.FAKE_PBS_HOME;
if (!HOME) {
  process.stderr.write('fake PBS: FAKE_PBS_HOME is not set\n');
  process.exit(1);
}

function config() {
  return JSON.parse(fs.readFileSync(path.join(HOME, 'config.json'), 'utf8'));
}

function saveConfig(value) {
  writeAtomic(path.join(HOME, 'config.json'), `${JSON.stringify(value, null, 2)}\n`);
}

function logCall(cmd, args) {
  fs.appendFileSync(path.join(HOME, 'calls.log'), `${JSON.stringify({ cmd, args })}\n`);
}

function writeAtomic(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

function recordPath(seq) {
  return path.join(HOME, 'jobs', `${seq}.json`);
}

function readRecord(seq) {
  try {
    return JSON.parse(fs.readFileSync(recordPath(seq), 'utf8'));
  } catch {
    return undefined;
  }
}

function writeRecord(record) {
  record.mtime = Date.now();
  writeAtomic(recordPath(record.seq), `${JSON.stringify(record, null, 2)}\n`);
}

function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The next job sequence number, under a lock directory shared by concurrent qsubs. */
function nextSeq() {
  const lock = path.join(HOME, 'seq.lock');
  for (let i = 0; ; i++) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      if (i > 2000) throw new Error('fake PBS: seq.lock is stuck');
      sleepSync(5);
    }
  }
  try {
    const file = path.join(HOME, 'seq');
    const seq = Number(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '99') + 1;
    fs.writeFileSync(file, String(seq));
    return seq;
  } finally {
    fs.rmdirSync(lock);
  }
}

/** `123`, `123.server`, `124[]`, `124[3].server` → { seq, index } (index 'all' for `[]`). */
function parseId(id) {
  const match = /^(\d+)(?:\[(\d*)\])?(?:\.(\S+))?$/.exec(id);
  if (match === null) return undefined;
  const index = match[2] === undefined ? undefined : match[2] === '' ? 'all' : Number(match[2]);
  return { seq: Number(match[1]), index };
}

function jobId(record, index) {
  if (!record.array) return `${record.seq}.${record.server}`;
  return `${record.seq}[${index === undefined ? '' : index}].${record.server}`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** PBS's time format: `Wed Mar 17 20:36:48 2021`. */
function ctime(ms) {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}

function hms(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n) => String(n).padStart(2, '0');
  return `${two(Math.floor(s / 3600))}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
}

/** `HH:MM:SS`, `MM:SS` or seconds → seconds; undefined when malformed. */
function parseDuration(text) {
  const parts = String(text).split(':');
  if (parts.length > 3 || parts.some((p) => !/^\d+$/.test(p))) return undefined;
  return parts.reduce((acc, p) => acc * 60 + Number(p), 0);
}

function isSize(text) {
  return /^\d+(b|kb|mb|gb|tb|pb|w|kw|mw|gw|tw)?$/i.test(text);
}

/**
 * Whether the job's node is down (its mom silent): it starts nothing, and its running jobs go
 * on but no longer answer qdel, until the node is back.
 */
function nodeDown() {
  const node = config().nodes?.cn01;
  return node !== undefined && /down|state-unknown|stale/i.test(node.state);
}

function deleteRequestPath(seq, index) {
  return path.join(HOME, 'jobs', index === undefined ? `${seq}.del` : `${seq}.${index}.del`);
}

module.exports = {
  HOME,
  config,
  saveConfig,
  logCall,
  writeAtomic,
  readRecord,
  writeRecord,
  recordPath,
  nextSeq,
  parseId,
  jobId,
  ctime,
  hms,
  parseDuration,
  isSize,
  deleteRequestPath,
  nodeDown,
  user: os.userInfo().username,
  host: os.hostname(),
};
