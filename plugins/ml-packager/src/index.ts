// @phys/ml-packager — versioned, verifiable model packages from phys runs: model files, a
// manifest with hashes, lineage and environment, a model card, and a .tar.gz.

// the `phys package verify` command (its code is loaded by the CLI when it runs)
export { packageVerifyCommand } from './cli/command.js';
// environment
export type { ModelEnvironment } from './environment.js';
export { captureEnvironment } from './environment.js';
// the format
export type { ManifestFile, ModelManifest } from './manifest.js';
export { MODEL_PACKAGE_FORMAT, modelManifestSchema } from './manifest.js';
// packaging and loading
export type {
  LoadedModelPackage,
  LoadOptions,
  ModelArtifactPackagerOptions,
  ModelPackage,
  PackageOptions,
} from './packager.js';
export { loadPackage, ModelArtifactPackager } from './packager.js';
// the plugin
export type { MlPackagerOptions, ResolvedMlPackagerOptions } from './plugin.js';
export { default, mlPackagerOptionsSchema } from './plugin.js';
// verifying
export type { VerifyProblem, VerifyProblemKind, VerifyReport } from './verify.js';
export { verifyPackage, verifyPackageOrThrow } from './verify.js';
