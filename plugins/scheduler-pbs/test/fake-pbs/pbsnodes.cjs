'use strict';
// Fake `pbsnodes -a -F json`: PBS Pro's JSON node status, one vnode per entry of the config's
// `nodes` (state as PBS prints it: `free`, `job-busy`, `offline`, `state-unknown,down`, ...).
const lib = require('./lib.cjs');

const argv = process.argv.slice(2);
lib.logCall('pbsnodes', argv);
const cfg = lib.config();

if (!argv.includes('-a') || argv[argv.indexOf('-F') + 1] !== 'json') {
  process.stderr.write('fake pbsnodes: only `pbsnodes -a -F json` is implemented\n');
  process.exit(2);
}
const nodes = {};
for (const [name, node] of Object.entries(cfg.nodes ?? {})) {
  nodes[name] = {
    Mom: `${name}.${cfg.server}`,
    Port: 15002,
    pbs_version: cfg.pbsVersion,
    ntype: 'PBS',
    state: node.state,
    pcpus: cfg.maxNcpus,
    resources_available: { host: name, ncpus: cfg.maxNcpus, vnode: name },
    resources_assigned: {},
    ...(node.comment === undefined ? {} : { comment: node.comment }),
    resv_enable: 'True',
    sharing: 'default_shared',
    last_state_change_time: Math.floor(Date.now() / 1000),
  };
}
const out = {
  timestamp: Math.floor(Date.now() / 1000),
  pbs_version: cfg.pbsVersion,
  pbs_server: cfg.server,
  nodes,
};
process.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
