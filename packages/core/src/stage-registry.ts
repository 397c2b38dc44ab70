import { PhysError } from './errors.js';
import type { PipelineStage, StageDefinition, StageOptions, StageRef } from './stage.js';

/**
 * Every stage a config declares, by name and version. Any process that loaded the same
 * `phys.config.ts` rebuilds a stage from its identity `(name, version, config)`.
 * @public
 */
export class StageRegistry {
  readonly #byKey = new Map<string, StageDefinition>();
  readonly #byName = new Map<string, StageDefinition[]>();

  /** Registers a definition; the same definition twice is a no-op, a different one under an existing name@version is an error. */
  register(definition: StageDefinition, source = 'config'): void {
    const key = `${definition.stageName}@${definition.version}`;
    const existing = this.#byKey.get(key);
    if (existing === definition) return;
    if (existing !== undefined) {
      throw new PhysError(
        'PHYS_STAGE_DUPLICATE',
        `Stage '${key}' is registered twice (again by ${source}). Give one of them another name or bump its version.`,
      );
    }
    this.#byKey.set(key, definition);
    const list = this.#byName.get(definition.stageName) ?? [];
    list.push(definition);
    this.#byName.set(definition.stageName, list);
  }

  has(name: string, version?: string): boolean {
    return version === undefined ? this.#byName.has(name) : this.#byKey.has(`${name}@${version}`);
  }

  /** The definition for `name` (at `version`, or the only/last registered one). */
  get(name: string, version?: string): StageDefinition {
    const def =
      version === undefined
        ? this.#byName.get(name)?.at(-1)
        : this.#byKey.get(`${name}@${version}`);
    if (def === undefined) {
      const known = [...this.#byKey.keys()].sort();
      throw new PhysError(
        'PHYS_STAGE_UNKNOWN',
        `Unknown stage '${name}${version === undefined ? '' : `@${version}`}'. Known stages: ${known.length === 0 ? '(none)' : known.join(', ')}. Register it in phys.config.ts (\`stages: [...]\`) or through a plugin.`,
        { details: { name, version, known } },
      );
    }
    return def;
  }

  /** Rebuilds a configured stage from its identity. */
  rebuild(ref: StageRef, options: StageOptions = {}): PipelineStage {
    return this.get(ref.name, ref.version)(ref.config, options);
  }

  list(): StageDefinition[] {
    return [...this.#byKey.values()];
  }
}
