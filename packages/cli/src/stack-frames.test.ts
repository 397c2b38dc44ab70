import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { frameFile, isInternalFrame, splitFrames } from './stack-frames.js';

// Real files: this package's own source (phys), and a fixture project's config (the user's).
const own = fileURLToPath(import.meta.url);
const user = fileURLToPath(new URL('../test/fixtures/seq/phys.config.ts', import.meta.url));

describe('stack frames', () => {
  it('reads the file of a frame, as a path or a file: URL', () => {
    expect(frameFile(`at process (${user}:9:3)`)).toBe(user);
    expect(frameFile(`at async ${pathToFileURL(user).href}:4:9`)).toBe(user);
    expect(frameFile('at Array.map (<anonymous>)')).toBeUndefined();
  });

  it("tells the user's files from phys's, node_modules' and Node's", () => {
    expect(isInternalFrame(`at process (${user}:9:3)`)).toBe(false);
    expect(isInternalFrame(`at runCli (${pathToFileURL(own).href}:10:2)`)).toBe(true);
    expect(isInternalFrame('at f (/app/node_modules/zod/index.js:1:1)')).toBe(true);
    expect(
      isInternalFrame(
        'at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
      ),
    ).toBe(true);
  });

  it("puts the user's frames first, each group in stack order", () => {
    const stack = [
      'ReferenceError: cell is not defined',
      '    at inner (/app/node_modules/lib/index.js:1:1)',
      `    at meshSize (${user}:9:3)`,
      `    at runStage (${own}:5:5)`,
      `    at process (${user}:16:36)`,
    ].join('\n');
    expect(splitFrames(stack)).toEqual({
      user: [`at meshSize (${user}:9:3)`, `at process (${user}:16:36)`],
      internal: ['at inner (/app/node_modules/lib/index.js:1:1)', `at runStage (${own}:5:5)`],
    });
  });
});
