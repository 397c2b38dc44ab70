import { z } from 'zod';
import { type ConfigIssue, StageConfigError } from './errors.js';
import { deepFreeze } from './policy.js';

/** Any zod schema usable as a stage config. @public */
export type StageConfigSchema = z.ZodType;

type AnyDef = { type: string } & Record<string, unknown>;

function def(schema: z.ZodType): AnyDef {
  return (schema as unknown as { _zod: { def: AnyDef } })._zod.def;
}

function clone(schema: z.ZodType, next: AnyDef): z.ZodType {
  return (schema as unknown as { clone(d: AnyDef): z.ZodType }).clone(next);
}

const strictCache = new WeakMap<z.ZodType, z.ZodType>();

/**
 * Returns a copy of `schema` in which every object schema rejects unknown keys, however deeply
 * nested (inside optional, default, array, record, union, tuple, pipe ...). Objects that declare
 * their own catchall (`.passthrough()`, `.catchall(...)`) keep it: that is an explicit choice.
 * Refinements and defaults are preserved.
 * @public
 */
export function strictSchema<T extends z.ZodType>(schema: T): T {
  const cached = strictCache.get(schema);
  if (cached) return cached as T;
  const result = strictify(schema, new Set());
  strictCache.set(schema, result);
  return result as T;
}

function strictify(schema: z.ZodType, seen: Set<z.ZodType>): z.ZodType {
  if (seen.has(schema)) return schema;
  seen.add(schema);
  const d = def(schema);
  const sub = (s: unknown): z.ZodType => strictify(s as z.ZodType, seen);
  switch (d.type) {
    case 'object': {
      const shape = d.shape as Record<string, z.ZodType>;
      const nextShape = Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, sub(v)]));
      return clone(schema, { ...d, shape: nextShape, catchall: d.catchall ?? z.never() });
    }
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'nonoptional':
    case 'catch':
      return clone(schema, { ...d, innerType: sub(d.innerType) });
    case 'array':
      return clone(schema, { ...d, element: sub(d.element) });
    case 'set':
      return clone(schema, { ...d, valueType: sub(d.valueType) });
    case 'record':
    case 'map':
      return clone(schema, { ...d, valueType: sub(d.valueType) });
    case 'union':
      return clone(schema, { ...d, options: (d.options as unknown[]).map(sub) });
    case 'intersection':
      return clone(schema, { ...d, left: sub(d.left), right: sub(d.right) });
    case 'tuple':
      return clone(schema, {
        ...d,
        items: (d.items as unknown[]).map(sub),
        rest: d.rest === undefined || d.rest === null ? d.rest : sub(d.rest),
      });
    case 'pipe':
      return clone(schema, { ...d, in: sub(d.in), out: sub(d.out) });
    default:
      return schema;
  }
}

/** Converts zod issues into path-carrying {@link ConfigIssue}s. @public */
export function zodIssues(error: z.ZodError, prefix: readonly PropertyKey[] = []): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        issues.push({
          path: formatPath([...path, key]),
          message: 'unknown key (not declared in the schema; check the spelling)',
        });
      }
    } else if (issue.code === 'invalid_union') {
      issues.push({ path: formatPath(path), message: unionMessage(issue) });
    } else {
      issues.push({ path: formatPath(path), message: issue.message });
    }
  }
  return issues;
}

// zod says only "Invalid input" when no option of a union matched; when every option failed on
// the value's type, name the types that would have been accepted.
function unionMessage(issue: z.core.$ZodIssueInvalidUnion): string {
  const expected = new Set<string>();
  for (const option of issue.errors) {
    const [only] = option;
    if (option.length !== 1 || only?.code !== 'invalid_type' || only.path.length > 0) {
      return issue.message;
    }
    expected.add(only.expected);
  }
  return expected.size === 0 ? issue.message : `expected one of: ${[...expected].join(' | ')}`;
}

/** Renders `['plugins', 1, 'options']` as `plugins[1].options`. @public */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/**
 * Validates `input` against a stage's config schema: defaults applied, unknown keys rejected,
 * every problem reported with its path in one {@link StageConfigError}, result deep-frozen.
 * @public
 */
export function parseStageConfig<T extends z.ZodType>(
  stage: string,
  schema: T,
  input: unknown,
): Readonly<z.output<T>> {
  const result = strictSchema(schema).safeParse(input ?? {});
  if (!result.success) throw new StageConfigError(stage, zodIssues(result.error));
  return deepFreeze(result.data) as Readonly<z.output<T>>;
}
