'use strict';
// The fake PBS "mom" of one job: holds it in the queue, waits for its afterok dependencies,
// runs its script (each subjob of an array, up to `slots` at once) with PBS's environment in a
// process group of its own, enforces walltime (SIGTERM, then SIGKILL after kill_delay), serves
// qdel requests, and records how it ended: Exit_status is the script's exit code, or 256 + the
// signal that killed it (as PBS's mom_start.c computes it).
const fs = require('node:fs');
const os = require('node:os');
const { spawn } = require('node:child_process');
const lib = require('./lib.cjs');

const seq = Number(process.argv[2]);
const record = lib.readRecord(seq);
if (record === undefined) process.exit(1);
const cfg = lib.config();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const save = () => lib.writeRecord(record);

record.momPid = process.pid;
save();

function deleteRequested(index) {
  return (
    fs.existsSync(lib.deleteRequestPath(seq)) ||
    (index !== undefined && fs.existsSync(lib.deleteRequestPath(seq, index)))
  );
}

function fault(index) {
  return (cfg.faults ?? []).find(
    (f) => new RegExp(f.name).test(record.name) && (f.index === undefined || f.index === index),
  );
}

function finishUnrun(target, index, comment) {
  target.state = index === undefined ? 'F' : 'X';
  target.comment = comment;
}

async function runOne(index) {
  const target = index === undefined ? record : record.subjobs[index];
  // A job stays queued while its node is down (qdel still removes it at the server).
  while (lib.nodeDown() && !deleteRequested(index)) await sleep(50);
  if (deleteRequested(index)) {
    finishUnrun(target, index, 'Job deleted');
    save();
    return;
  }
  const injected = fault(index);
  if (injected !== undefined) {
    target.state = index === undefined ? 'F' : 'X';
    target.exitStatus = injected.exitStatus;
    target.comment = injected.comment ?? 'Job failed to start';
    save();
    return;
  }
  const id = lib.jobId(record, index);
  const sub = (p) => (index === undefined ? p : p.replace(/\^array_index\^/g, String(index)));
  const out = fs.openSync(sub(record.outputPath), 'a');
  const err = record.join === 'oe' ? out : fs.openSync(sub(record.errorPath), 'a');
  const env = {
    ...process.env,
    PBS_JOBID: id,
    PBS_JOBNAME: record.name,
    PBS_O_WORKDIR: record.workdir,
    PBS_QUEUE: record.queue,
    PBS_ENVIRONMENT: 'PBS_BATCH',
    PBS_O_HOST: lib.host,
  };
  if (index !== undefined) {
    env.PBS_ARRAY_INDEX = String(index);
    env.PBS_ARRAY_ID = lib.jobId(record, '');
  }
  const started = Date.now();
  const child = spawn('/bin/bash', [record.script], {
    cwd: os.homedir(),
    env,
    detached: true,
    stdio: ['ignore', out, err],
  });
  fs.closeSync(out);
  if (err !== out) fs.closeSync(err);
  target.state = 'R';
  target.stime = started;
  target.sessionId = child.pid;
  target.execHost = 'cn01/0';
  target.runCount = (target.runCount ?? 0) + 1;
  target.comment = `Job run at ${lib.ctime(started)} on (cn01:ncpus=${record.chunk.ncpus})`;
  if (index !== undefined && record.state === 'Q') record.state = 'B';
  save();

  let killing = false;
  const kill = (why) => {
    if (killing) return;
    killing = true;
    if (why !== undefined) fs.appendFileSync(sub(record.errorPath), `${why}\n`);
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {}
    setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, cfg.killDelayMs).unref();
  };
  const timers = [];
  if (record.walltime !== undefined) {
    timers.push(
      setTimeout(() => {
        const used = Math.round((Date.now() - started) / 1000);
        kill(`=>> PBS: job killed: walltime ${used} exceeded limit ${record.walltime}`);
      }, record.walltime * 1000),
    );
  }
  timers.push(setInterval(() => !lib.nodeDown() && deleteRequested(index) && kill(), 50));
  const { code, signal } = await new Promise((resolve) =>
    child.once('exit', (c, s) => resolve({ code: c, signal: s })),
  );
  for (const t of timers) clearTimeout(t);
  target.usedWalltime = (Date.now() - started) / 1000;
  target.exitStatus = signal === null ? code : 256 + os.constants.signals[signal];
  target.state = 'E';
  save();
  await sleep(20);
  target.state = index === undefined ? 'F' : 'X';
  target.comment = `${target.comment} and ${target.exitStatus === 0 ? 'finished' : 'failed'}`;
  save();
}

async function main() {
  await sleep(cfg.queueMs);
  if (record.depend !== undefined) {
    record.state = 'H';
    save();
    while (true) {
      if (deleteRequested()) break;
      const deps = record.depend.map((id) => lib.readRecord(lib.parseId(id).seq));
      const failed = deps.find((d) => d === undefined || (d.state === 'F' && d.exitStatus !== 0));
      if (failed !== undefined) {
        for (const s of Object.values(record.subjobs)) finishUnrun(s, 0, 'Job deleted');
        finishUnrun(
          record,
          undefined,
          `Job deleted as result of dependency on job ${record.depend.join(':')}`,
        );
        save();
        return;
      }
      if (deps.every((d) => d.state === 'F')) break;
      await sleep(50);
    }
    record.state = 'Q';
    save();
  }
  if (record.array === undefined) {
    await runOne(undefined);
    return;
  }
  const indices = Object.keys(record.subjobs).map(Number);
  let next = 0;
  const worker = async () => {
    while (next < indices.length) await runOne(indices[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(cfg.slots, indices.length) }, worker));
  const subs = Object.values(record.subjobs);
  record.state = 'F';
  record.exitStatus = subs.some((s) => s.exitStatus === undefined)
    ? 2
    : subs.some((s) => s.exitStatus !== 0)
      ? 1
      : 0;
  save();
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`fake PBS mom ${seq}: ${error.stack}\n`);
    process.exit(1);
  },
);
