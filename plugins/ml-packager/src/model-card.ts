import type { ModelManifest } from './manifest.js';

function code(text: string): string {
  // A backtick inside inline code would end it early.
  return `\`${text.replaceAll('`', "'")}\``;
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/**
 * The model card (`README.md`) of a package: what the model is, its metrics, files, config,
 * lineage and environment, and how to verify it. Built from the manifest alone.
 */
export function renderModelCard(
  manifest: Omit<ModelManifest, 'integrity' | 'files'> & {
    readonly files: ModelManifest['files'];
  },
): string {
  const lines: string[] = [];
  const stage = manifest.stage;
  const stageText =
    stage === null ? 'an unnamed stage' : `stage ${code(`${stage.name}@${stage.version}`)}`;
  lines.push(`# Model ${code(manifest.name)}, version ${code(manifest.version)}`, '');
  lines.push(
    `Produced by node ${code(manifest.node.id)} (${stageText})` +
      (manifest.node.runId === undefined ? '' : ` in run ${code(manifest.node.runId)}`) +
      `, packaged ${manifest.createdAt} by phys.` +
      (manifest.node.cached ? ' The result was restored from the phys cache, not recomputed.' : ''),
    '',
    `Content hash: ${code(manifest.contentHash)} (SHA-256 over the stage, config, metrics, lineage and model files; equal models get equal hashes).`,
    '',
  );

  lines.push('## Metrics', '');
  const metrics = Object.entries(manifest.metrics);
  if (metrics.length === 0) lines.push('The stage reported no metrics.', '');
  else {
    lines.push('| metric | value |', '| --- | ---: |');
    for (const [k, v] of metrics) lines.push(`| ${cell(k)} | ${cell(String(v))} |`);
    lines.push('');
  }
  const values = Object.entries(manifest.values);
  if (values.length > 0) {
    lines.push('Scalar outputs kept in the manifest:', '', '| name | value |', '| --- | ---: |');
    for (const [k, v] of values) lines.push(`| ${cell(k)} | ${cell(String(v))} |`);
    lines.push('');
  }

  lines.push('## Files', '', '| file | role | bytes | sha256 |', '| --- | --- | ---: | --- |');
  for (const f of manifest.files) {
    lines.push(`| ${cell(f.path)} | ${f.role} | ${f.bytes} | ${code(f.sha256)} |`);
  }
  lines.push(
    '| manifest.json | manifest | | see its `integrity` field |',
    '| README.md | card | | listed in manifest.json |',
    '',
    "`state.bin` is the stage's output state in the phys state codec: read it with `decodeState` from `@phys/core`, or with `load(path, { state: true })` from `@phys/ml-packager`.",
    '',
  );

  lines.push(
    '## Config',
    '',
    '```json',
    JSON.stringify(manifest.config ?? null, null, 2),
    '```',
    '',
  );

  lines.push('## Lineage', '');
  if (manifest.provenance.cacheKey !== undefined) {
    lines.push(`Cache key of this node: ${code(manifest.provenance.cacheKey)}.`, '');
  }
  if (manifest.provenance.lineage.length === 0)
    lines.push("No upstream nodes: this node read the run's initial state.", '');
  else {
    lines.push('| upstream node | cache key |', '| --- | --- |');
    for (const up of manifest.provenance.lineage) {
      lines.push(
        `| ${cell(code(up.nodeId))} | ${up.cacheKey === undefined ? '' : code(up.cacheKey)} |`,
      );
    }
    lines.push('');
  }

  const env = manifest.environment;
  lines.push(
    '## Environment',
    '',
    `Node ${env.node} on ${env.platform}/${env.arch}` +
      (env.git === undefined
        ? '; not in a git work tree.'
        : `; git commit ${code(env.git.commit)}${env.git.dirty ? ' with uncommitted changes' : ''}.`),
    '',
  );
  const packages = Object.entries(env.packages);
  if (packages.length > 0) {
    lines.push('| package | version |', '| --- | --- |');
    for (const [name, version] of packages) lines.push(`| ${cell(name)} | ${cell(version)} |`);
    lines.push('');
  }

  lines.push(
    '## How to verify',
    '',
    "With phys (checks every file, the manifest's integrity and that nothing was added):",
    '',
    '```sh',
    `phys package verify ${manifest.name}/${manifest.version}`,
    '```',
    '',
    'Without phys, inside this directory (`sha256sum -c` reads the lines below):',
    '',
    '```',
    ...manifest.files.map((f) => `${f.sha256}  ${f.path}`),
    '```',
    '',
  );
  return lines.join('\n');
}
