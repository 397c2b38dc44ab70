'use strict';
// Fake `qstat -f -F json [-x] [-t] <ids...>`: PBS Pro's JSON full status. Finished jobs need
// -x (else exit 35, "Job has finished"); unknown ids go to stderr ("Unknown Job Id", exit 153)
// while known ones are still printed; -t expands an array `<seq>[]` into its subjobs.
const os = require('node:os');
const lib = require('./lib.cjs');

const argv = process.argv.slice(2);
lib.logCall('qstat', argv);
const cfg = lib.config();

let full = false;
let json = false;
let history = false;
let expand = false;
const ids = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '-f') full = true;
  else if (a === '-x') history = true;
  else if (a === '-t') expand = true;
  else if (a === '-F') json = argv[++i] === 'json';
  else if (a.startsWith('-')) {
    process.stderr.write(`qstat: invalid option -- '${a.slice(1)}'\n`);
    process.exit(2);
  } else ids.push(a);
}
if (!full || !json) {
  process.stderr.write('fake qstat: only `qstat -f -F json [-x] [-t] <ids>` is implemented\n');
  process.exit(2);
}

const SUBSTATE = { Q: 10, H: 20, B: 42, R: 42, E: 51, F: 92, X: 93 };

function attributes(record, index) {
  const sub = index === undefined ? record : record.subjobs[index];
  const started = sub.stime !== undefined;
  const resourceList = {
    ncpus: record.chunk.ncpus,
    nodect: 1,
    place: 'pack',
    select: record.select,
  };
  if (record.chunk.mem !== undefined) resourceList.mem = record.chunk.mem;
  if (record.chunk.ngpus !== undefined) resourceList.ngpus = record.chunk.ngpus;
  if (record.chunk.mpiprocs !== undefined) resourceList.mpiprocs = record.chunk.mpiprocs;
  if (record.walltime !== undefined) resourceList.walltime = lib.hms(record.walltime);
  const used = sub.usedWalltime ?? (started ? (Date.now() - sub.stime) / 1000 : undefined);
  const subPath = (p) => (index === undefined ? p : p.replace(/\^array_index\^/g, String(index)));
  const attrs = {
    Job_Name: record.name,
    Job_Owner: `${lib.user}@${lib.host}`,
    ...(started
      ? {
          resources_used: {
            cpupercent: 0,
            cput: '00:00:00',
            mem: '10240kb',
            ncpus: record.chunk.ncpus,
            vmem: '20480kb',
            walltime: lib.hms(used),
          },
        }
      : {}),
    job_state: sub.state,
    queue: record.queue,
    server: record.server,
    ...(record.account === undefined ? {} : { Account_Name: record.account }),
    Checkpoint: 'u',
    ctime: lib.ctime(record.ctime),
    Error_Path: `${lib.host}:${subPath(record.errorPath)}`,
    ...(started
      ? { exec_host: sub.execHost, exec_vnode: `(cn01:ncpus=${record.chunk.ncpus})` }
      : {}),
    Hold_Types: 'n',
    Join_Path: record.join,
    Keep_Files: 'n',
    Mail_Points: 'a',
    mtime: lib.ctime(record.mtime),
    Output_Path: `${lib.host}:${subPath(record.outputPath)}`,
    Priority: 0,
    qtime: lib.ctime(record.qtime),
    Rerunable: 'True',
    Resource_List: resourceList,
    ...(started ? { stime: lib.ctime(sub.stime), session_id: sub.sessionId } : {}),
    jobdir: os.homedir(),
    substate: SUBSTATE[sub.state] ?? 0,
    Variable_List: {
      PBS_O_HOME: os.homedir(),
      PBS_O_WORKDIR: record.workdir,
      PBS_O_QUEUE: record.queue,
      PBS_O_HOST: lib.host,
      ...(index === undefined
        ? {}
        : { PBS_ARRAY_INDEX: index, PBS_ARRAY_ID: lib.jobId(record, '') }),
    },
    ...(sub.comment === undefined ? {} : { comment: sub.comment }),
    etime: lib.ctime(record.etime),
    run_count: sub.runCount ?? 0,
    ...(sub.exitStatus === undefined ? {} : { Exit_status: sub.exitStatus }),
    Submit_arguments: record.submitArgs,
    project: record.project ?? '_pbs_project_default',
  };
  if (record.array !== undefined && index === undefined) {
    const subs = Object.entries(record.subjobs);
    const count = (states) => subs.filter(([, s]) => states.includes(s.state)).length;
    attrs.array = 'True';
    attrs.array_state_count = `Queued:${count(['Q', 'H'])} Running:${count(['R'])} Exiting:${count(['E'])} Expired:${count(['X'])} `;
    attrs.array_indices_submitted = `${record.array.start}-${record.array.end}${record.array.step === 1 ? '' : `:${record.array.step}`}`;
    const remaining = subs.filter(([, s]) => s.state === 'Q' || s.state === 'H').map(([i]) => i);
    attrs.array_indices_remaining = remaining.length === 0 ? '-' : remaining.join(',');
  }
  if (index !== undefined) {
    attrs.array_id = lib.jobId(record, '');
    attrs.array_index = index;
  }
  return attrs;
}

const jobs = {};
let exit = 0;
for (const id of ids) {
  const parsed = lib.parseId(id);
  const record = parsed === undefined ? undefined : lib.readRecord(parsed.seq);
  const isArray = record?.array !== undefined;
  const valid =
    record !== undefined &&
    (parsed.index === undefined
      ? !isArray
      : isArray && (parsed.index === 'all' || record.subjobs[parsed.index] !== undefined));
  if (!valid) {
    process.stderr.write(`qstat: Unknown Job Id ${id}\n`);
    exit = 153;
    continue;
  }
  const index = parsed.index === 'all' ? undefined : parsed.index;
  const target = index === undefined ? record : record.subjobs[index];
  const finished = target.state === 'F' || target.state === 'X';
  if (finished && !history) {
    process.stderr.write(
      `qstat: ${id} Job has finished, use -x or -H to obtain historical job information\n`,
    );
    exit = 35;
    continue;
  }
  jobs[lib.jobId(record, index === undefined && isArray ? '' : index)] = attributes(record, index);
  if (parsed.index === 'all' && expand) {
    for (const i of Object.keys(record.subjobs).map(Number)) {
      const s = record.subjobs[i];
      if ((s.state === 'X' || s.state === 'F') && !history) continue;
      jobs[lib.jobId(record, i)] = attributes(record, i);
    }
  }
}
const out = {
  timestamp: Math.floor(Date.now() / 1000),
  pbs_version: cfg.pbsVersion,
  pbs_server: cfg.server,
  ...(Object.keys(jobs).length === 0 ? {} : { Jobs: jobs }),
};
process.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
process.exit(exit);
