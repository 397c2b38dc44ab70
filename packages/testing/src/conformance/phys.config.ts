// The config the conformance suite hands to schedulers by default (`conformanceConfigFile()`):
// job processes load its built twin under dist/ to rebuild the conformance stages by identity.
import { defineConfig } from '@phys/core';
import { conformanceStages } from './stages.js';

export default defineConfig({ stages: conformanceStages });
