import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A fenced code block of a guide. */
export interface CodeBlock {
  readonly lang: string;
  readonly code: string;
  /** The path named by a first line `// <path>`, if there is one. */
  readonly path: string | undefined;
}

/** Every fenced code block of a markdown text, in order. */
export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const fence = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (const match of markdown.matchAll(fence)) {
    const code = match[2] ?? '';
    const first = /^\/\/ (\S+\.\w+)\n/.exec(code);
    blocks.push({ lang: match[1] ?? '', code, path: first?.[1] });
  }
  return blocks;
}

/**
 * Writes the blocks of `guide` that start with `// <path>` as files of a project under
 * `.generated/<name>`, so that tests run exactly the code the guide shows.
 */
export function extractProject(docsDir: string, guide: string, name: string): string {
  const root = join(docsDir, '.generated', name);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'package.json'), '{ "type": "module", "private": true }\n');
  for (const block of codeBlocks(readFileSync(join(docsDir, guide), 'utf8'))) {
    if (block.path === undefined) continue;
    const file = join(root, block.path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, block.code);
  }
  return root;
}
