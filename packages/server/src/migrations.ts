/**
 * The schema of the run store, one step per version (`PRAGMA user_version` counts the steps
 * applied). Steps are only ever appended: a file written by an older version is brought up to
 * date on open, each step in a transaction of its own.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: runs (the whole record as JSON, with the columns lists filter on) and their events.
  `CREATE TABLE runs (
     id INTEGER PRIMARY KEY,
     job_id TEXT NOT NULL UNIQUE,
     pipeline TEXT NOT NULL,
     status TEXT NOT NULL,
     priority INTEGER NOT NULL,
     last_seq INTEGER NOT NULL DEFAULT 0,
     record TEXT NOT NULL
   );
   CREATE INDEX runs_by_status ON runs (status, priority DESC, id);
   CREATE INDEX runs_by_pipeline ON runs (pipeline, id);
   CREATE TABLE run_events (
     run_id INTEGER NOT NULL REFERENCES runs (id),
     seq INTEGER NOT NULL,
     type TEXT NOT NULL,
     event TEXT NOT NULL,
     PRIMARY KEY (run_id, seq)
   ) WITHOUT ROWID;
   CREATE INDEX run_events_by_type ON run_events (run_id, type, seq);`,
  // 2: schedules: one row per claimed fire time (the exactly-once lock) and a schedule's state.
  `CREATE TABLE schedule_fires (
     schedule TEXT NOT NULL,
     fire_time TEXT NOT NULL,
     outcome TEXT NOT NULL,
     job_id TEXT,
     missed INTEGER,
     manual INTEGER NOT NULL DEFAULT 0,
     claimed_at TEXT NOT NULL,
     PRIMARY KEY (schedule, fire_time)
   ) WITHOUT ROWID;
   CREATE TABLE schedule_state (
     schedule TEXT PRIMARY KEY,
     paused INTEGER,
     since TEXT
   ) WITHOUT ROWID;`,
];
