'use strict';
// Fake `qdel <ids...>`: asks each job's mom to delete it (a queued job never runs; a running
// one gets SIGTERM, then SIGKILL after kill_delay). Unknown ids: exit 153; finished: exit 35.
const fs = require('node:fs');
const lib = require('./lib.cjs');

const ids = process.argv.slice(2);
lib.logCall('qdel', ids);
let exit = 0;
for (const id of ids) {
  const parsed = lib.parseId(id);
  const record = parsed === undefined ? undefined : lib.readRecord(parsed.seq);
  const index = parsed?.index === 'all' ? undefined : parsed?.index;
  const target =
    record === undefined ? undefined : index === undefined ? record : record.subjobs[index];
  if (target === undefined) {
    process.stderr.write(`qdel: Unknown Job Id ${id}\n`);
    exit = 153;
    continue;
  }
  if (target.state === 'F' || target.state === 'X') {
    process.stderr.write(`qdel: Job has finished ${id}\n`);
    exit = 35;
    continue;
  }
  fs.writeFileSync(lib.deleteRequestPath(parsed.seq, index), '');
}
process.exit(exit);
