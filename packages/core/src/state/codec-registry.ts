import { StateError } from '../errors.js';

/**
 * Turns instances of one class into encodable state and back; register it with {@link registerStateCodec}.
 * @public
 */
export interface StateCodec<T> {
  /** Stable name stored in hashes and encodings: changing it changes every hash of this class. */
  readonly tag: string;
  /** The class; only instances whose prototype is exactly `type.prototype` use this codec. */
  readonly type: abstract new (
    ...args: never[]
  ) => T;
  /** Returns any encodable value (it may contain other registered classes) describing `value`. */
  encode(value: T): unknown;
  /** Rebuilds an instance from what {@link StateCodec.encode} returned (after a decode). */
  decode(data: unknown): T;
}

interface Registry {
  readonly version: 1;
  readonly byTag: Map<string, StateCodec<unknown>>;
  readonly byPrototype: Map<object, StateCodec<unknown>>;
}

// On globalThis so that two installed copies of @phys/core (a common pnpm/npm outcome) see the
// same codecs: a class registered through one copy must hash and decode identically in the other.
// The shape is versioned because those copies may be different releases.
const REGISTRY = Symbol.for('@phys/core:stateCodecs');

function registry(): Registry {
  const g = globalThis as unknown as Record<symbol, Registry | undefined>;
  let reg = g[REGISTRY];
  if (reg === undefined) {
    reg = { version: 1, byTag: new Map(), byPrototype: new Map() };
    Object.defineProperty(globalThis, REGISTRY, { value: reg, configurable: true });
  } else if (reg.version !== 1) {
    throw new StateError(
      'PHYS_STATE_UNSUPPORTED',
      `The shared state codec registry was created by an incompatible copy of @phys/core (registry version ${String(reg.version)}). Deduplicate @phys/core so that a single version is installed.`,
    );
  }
  return reg;
}

type TypedArrayCtor = {
  new (length: number): ArrayBufferView;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): ArrayBufferView;
  readonly name: string;
  readonly BYTES_PER_ELEMENT: number;
  readonly prototype: object;
};

// The typed-array element types, in the order of their codes. The codes are part of the hash and
// of the encoded format: never renumber, only append.
export const TYPED_ARRAY_CTORS: readonly TypedArrayCtor[] = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
];

// The hasher and the codec handle these themselves; a codec for them would silently never run.
const BUILTIN_TYPES: ReadonlySet<unknown> = new Set<unknown>([
  Object,
  Array,
  Map,
  Set,
  Date,
  ArrayBuffer,
  DataView,
  ...TYPED_ARRAY_CTORS,
]);

/**
 * Registers how instances of a class are hashed and encoded; re-registering the same codec is a no-op.
 * @public
 */
export function registerStateCodec<T>(codec: StateCodec<T>): void {
  const c = codec as StateCodec<unknown>;
  const tag: unknown = c?.tag;
  const type: unknown = c?.type;
  if (
    typeof tag !== 'string' ||
    tag === '' ||
    typeof type !== 'function' ||
    typeof (type as { prototype?: unknown }).prototype !== 'object' ||
    typeof c.encode !== 'function' ||
    typeof c.decode !== 'function'
  ) {
    throw new StateError(
      'PHYS_STATE_UNSUPPORTED',
      'registerStateCodec() needs { tag: non-empty string, type: a class, encode(value), decode(data) }. ' +
        'Pass the class itself as `type` (not an instance) and both functions.',
    );
  }
  if (BUILTIN_TYPES.has(type)) {
    throw new StateError(
      'PHYS_STATE_UNSUPPORTED',
      `registerStateCodec(): '${tag}' targets the built-in ${(type as { name: string }).name}, which state already supports natively. Register codecs for your own classes only.`,
    );
  }
  const reg = registry();
  const proto = (type as { prototype: object }).prototype;
  const byTag = reg.byTag.get(tag);
  const byType = reg.byPrototype.get(proto);
  if (byTag === undefined && byType === undefined) {
    reg.byTag.set(tag, c);
    reg.byPrototype.set(proto, c);
    return;
  }
  if (
    byTag !== undefined &&
    byTag === byType &&
    (byTag === c || (byTag.encode === c.encode && byTag.decode === c.decode))
  ) {
    return;
  }
  const typeName = (type as { name: string }).name || '(anonymous class)';
  const problem =
    byTag !== undefined && byTag.type !== type
      ? `tag '${tag}' is already registered for class ${byTag.type.name || '(anonymous class)'}`
      : byType !== undefined && byType.tag !== tag
        ? `class ${typeName} is already registered under tag '${byType.tag}'`
        : `tag '${tag}' is already registered for class ${typeName} with different encode/decode functions`;
  throw new StateError(
    'PHYS_STATE_UNSUPPORTED',
    `registerStateCodec(): ${problem}. A tag names exactly one class and a class has one tag, because hashes and encoded bytes depend on them. Pick a unique tag (e.g. prefixed with your package name), or call unregisterStateCodec('${tag}') first to replace it.`,
    { details: { tag } },
  );
}

/**
 * Removes the codec registered under `tag` (mainly for tests); returns whether one was registered.
 * @public
 */
export function unregisterStateCodec(tag: string): boolean {
  const reg = registry();
  const codec = reg.byTag.get(tag);
  if (codec === undefined) return false;
  reg.byTag.delete(tag);
  reg.byPrototype.delete(codec.type.prototype as object);
  return true;
}

/** The codec for instances whose prototype is exactly `proto`, if any. */
export function codecForPrototype(proto: object): StateCodec<unknown> | undefined {
  return registry().byPrototype.get(proto);
}

/** The codec registered under `tag`, if any. */
export function codecForTag(tag: string): StateCodec<unknown> | undefined {
  return registry().byTag.get(tag);
}
