/** Bytes or text an artifact resolves to when it is recorded. @public */
export type ArtifactData =
  | string
  | Uint8Array
  | ArrayBufferView
  | Readonly<Record<string, unknown>>
  | readonly unknown[];

/**
 * A lazy artifact: a function producing the artifact's data. It is only called when recording
 * is on, so expensive plots or dumps cost nothing in ordinary runs.
 * @public
 */
export type LazyArtifact = () => ArtifactData | Promise<ArtifactData>;

/** Where a recorded artifact landed. @public */
export interface ArtifactRef {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly mediaType: string;
}

/** Persists artifacts when recording is on. @public */
export interface ArtifactRecorder {
  /** Writes `data` under the namespaced `key` and returns where it went. */
  record(key: string, data: ArtifactData): Promise<ArtifactRef>;
}

/** What a stage sees as `ctx.artifacts`. @public */
export interface ArtifactWriter {
  /** True when artifacts are persisted in this run. */
  readonly recording: boolean;
  /**
   * Records an artifact under the stage's namespace. Returns its ref when recording is on, or
   * undefined (and does nothing) when it is off. A function is called only when recording.
   */
  write(name: string, data: ArtifactData | LazyArtifact): Promise<ArtifactRef | undefined>;
}
