import type { z } from 'zod';

type Def = { readonly type: string } & Readonly<Record<string, unknown>>;

function defOf(schema: unknown): Def | undefined {
  const zod = (schema as { _zod?: { def?: Def } } | null)?._zod;
  return zod?.def;
}

// Wrappers that do not change which keys an object accepts.
const WRAPPERS = new Set([
  'optional',
  'nullable',
  'default',
  'prefault',
  'readonly',
  'nonoptional',
  'catch',
]);

/** The object schema behind wrappers and pipes, or undefined when it is not an object. */
function objectDef(schema: unknown): Def | undefined {
  let def = defOf(schema);
  for (let guard = 0; def !== undefined && guard < 64; guard++) {
    if (def.type === 'object') return def;
    if (WRAPPERS.has(def.type)) def = defOf(def.innerType);
    else if (def.type === 'pipe') def = defOf(def.in);
    else return undefined;
  }
  return undefined;
}

/** Why a dotted config key does not exist in a schema. */
export interface UnknownKey {
  /** The first segment the schema does not declare. */
  readonly segment: string;
  /** The keys declared at that level. */
  readonly known: readonly string[];
}

/**
 * Follows `path` through the object schemas of `schema`. Returns the first segment an object
 * does not declare (objects with a catchall accept any key), or undefined when the path exists
 * or leads into a schema whose keys cannot be told in advance (records, unions, ...): the config
 * parse that follows still rejects what does not fit.
 */
export function unknownKey(schema: z.ZodType, path: readonly string[]): UnknownKey | undefined {
  let current: unknown = schema;
  for (const segment of path) {
    const def = objectDef(current);
    if (def === undefined) return undefined;
    const shape = def.shape as Readonly<Record<string, unknown>>;
    if (Object.hasOwn(shape, segment)) {
      current = shape[segment];
      continue;
    }
    const catchall = defOf(def.catchall);
    if (catchall !== undefined && catchall.type !== 'never') return undefined;
    return { segment, known: Object.keys(shape) };
  }
  return undefined;
}

/** Whether `schema` is an object schema that declares `key` at its top level. */
export function declaresKey(schema: unknown, key: string): boolean {
  const def = objectDef(schema);
  return def !== undefined && Object.hasOwn(def.shape as object, key);
}
