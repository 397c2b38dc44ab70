// Installs fake qsub/qstat/qdel/pbsnodes executables into a temp directory on PATH. They really run job
// scripts in the background (test/fake-pbs/mom.cjs), keep the server's state in files, and
// print what PBS Pro prints (see test/fake-pbs/*.cjs and the README's "Testing" section).
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FAKES = fileURLToPath(new URL('./fake-pbs/', import.meta.url));

/** Knobs of the fake server. */
export interface FakePbsConfig {
  readonly server: string;
  readonly pbsVersion: string;
  readonly queues: readonly string[];
  readonly defaultQueue: string;
  /** Milliseconds a job sits in the queue before its mom starts it. */
  readonly queueMs: number;
  /** kill_delay: milliseconds between SIGTERM and SIGKILL (PBS's default is 10 s). */
  readonly killDelayMs: number;
  /** Subjobs of one array running at once. */
  readonly slots: number;
  readonly maxNcpus: number;
  readonly maxNgpus: number;
  /** The next N qsub calls fail as if the server were unreachable. */
  readonly qsubFailures: number;
  /**
   * The vnodes `pbsnodes` lists, by name, with their state. Jobs run on `cn01`; while its state
   * says down (`state-unknown,down`), queued jobs stay queued and running ones go on but ignore
   * qdel, as with a mom that no longer answers.
   */
  readonly nodes: Readonly<Record<string, { readonly state: string; readonly comment?: string }>>;
  /** Jobs whose name matches `name` end at once with `exitStatus` (e.g. -1, JOB_EXEC_FAIL1). */
  readonly faults: readonly {
    readonly name: string;
    readonly index?: number;
    readonly exitStatus: number;
    readonly comment?: string;
  }[];
}

/** One recorded command invocation. */
export interface FakePbsCall {
  readonly cmd: 'qsub' | 'qstat' | 'qdel' | 'pbsnodes';
  readonly args: readonly string[];
}

/** A fake PBS server and its client commands. */
export interface FakePbs {
  readonly home: string;
  readonly bin: string;
  readonly server: string;
  /** Every qsub/qstat/qdel call so far, in order. */
  calls(): Promise<FakePbsCall[]>;
  configure(patch: Partial<FakePbsConfig>): Promise<void>;
  /** Makes the server forget a job (as after a purge of its history): its processes die too. */
  forget(jobId: string): Promise<void>;
  /** Kills every mom and job process; restores PATH. */
  shutdown(): Promise<void>;
}

const DEFAULTS: FakePbsConfig = {
  server: 'pbs01',
  pbsVersion: '23.06.06',
  queues: ['workq', 'gpu'],
  defaultQueue: 'workq',
  queueMs: 30,
  killDelayMs: 1000,
  slots: 4,
  maxNcpus: 8,
  maxNgpus: 2,
  qsubFailures: 0,
  nodes: { cn01: { state: 'free' } },
  faults: [],
};

interface JobFile {
  readonly momPid?: number;
  readonly sessionId?: number;
  readonly subjobs: Record<string, { readonly sessionId?: number }>;
}

/** Creates a fake PBS server and puts its commands first on PATH. */
export async function installFakePbs(config: Partial<FakePbsConfig> = {}): Promise<FakePbs> {
  const root = await mkdtemp(join(tmpdir(), 'phys-fake-pbs-'));
  const home = join(root, 'server');
  const bin = join(root, 'bin');
  await mkdir(join(home, 'jobs'), { recursive: true });
  await mkdir(bin);
  const settings = { ...DEFAULTS, ...config };
  const configFile = join(home, 'config.json');
  await writeFile(configFile, JSON.stringify(settings, null, 2));
  for (const cmd of ['qsub', 'qstat', 'qdel', 'pbsnodes']) {
    const file = join(bin, cmd);
    await writeFile(
      file,
      `#!/bin/sh\nFAKE_PBS_HOME='${home}' exec '${process.execPath}' '${join(FAKES, `${cmd}.cjs`)}' "$@"\n`,
    );
    await chmod(file, 0o755);
  }
  const previousPath = process.env.PATH;
  process.env.PATH = `${bin}${delimiter}${previousPath ?? ''}`;

  const jobFiles = async (): Promise<JobFile[]> => {
    const names = (await readdir(join(home, 'jobs'))).filter((n) => /^\d+\.json$/.test(n));
    const files: JobFile[] = [];
    for (const name of names) {
      try {
        files.push(JSON.parse(await readFile(join(home, 'jobs', name), 'utf8')) as JobFile);
      } catch {
        // being rewritten; the caller retries or does not need it
      }
    }
    return files;
  };
  // The mom first, so that it cannot record the death of its job processes.
  const killJob = (job: JobFile): void => {
    if (job.momPid !== undefined) tryKill(job.momPid);
    for (const pid of [job.sessionId, ...Object.values(job.subjobs).map((s) => s.sessionId)]) {
      if (pid !== undefined) tryKill(-pid);
    }
  };

  return {
    home,
    bin,
    server: settings.server,
    async calls() {
      const text = await readFile(join(home, 'calls.log'), 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as FakePbsCall);
    },
    async configure(patch) {
      const current = JSON.parse(await readFile(configFile, 'utf8')) as FakePbsConfig;
      await writeFile(configFile, JSON.stringify({ ...current, ...patch }, null, 2));
    },
    async forget(jobId) {
      const seq = /^(\d+)/.exec(jobId)?.[1];
      const file = join(home, 'jobs', `${seq}.json`);
      const job = JSON.parse(await readFile(file, 'utf8')) as JobFile;
      killJob(job);
      await unlink(file);
    },
    async shutdown() {
      for (const job of await jobFiles()) killJob(job);
      process.env.PATH = previousPath;
      await rm(root, { recursive: true, force: true });
    },
  };
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
