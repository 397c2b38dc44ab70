// Declares the bench stages so that worker threads can rebuild them by identity.
import { defineConfig } from '@phys/core';
import { Add, Burn } from './stages.js';

export default defineConfig({ stages: [Add, Burn] });
