import { type CliCommand, definePlugin, PluginError } from '@phys/core';
import { describe, expect, it } from 'vitest';
import { pluginCommands } from './plugin-commands.js';

const command = (extra: Partial<CliCommand>): CliCommand => ({
  path: ['hold'],
  description: 'hold until interrupted',
  load: async () => ({ default: async () => 0 }),
  ...extra,
});

const plugin = (extra: Partial<CliCommand>) =>
  definePlugin({ name: 'holder', commands: [command(extra)], register() {} });

describe('interruptNotice of a plugin command', () => {
  it('is kept as the plugin declares it', () => {
    const [found] = pluginCommands([plugin({ interruptNotice: 'releasing the hold' })]);
    expect(found?.command.interruptNotice).toBe('releasing the hold');
  });

  it.each([[''], ['two\nlines'], [42]])('%j is refused, naming the plugin and the field', (bad) => {
    const refused = () => pluginCommands([plugin({ interruptNotice: bad as string })]);
    expect(refused).toThrow(PluginError);
    expect(refused).toThrow(
      expect.objectContaining({
        code: 'PHYS_PLUGIN_INVALID',
        message: expect.stringMatching(
          /Plugin 'holder' declares an invalid CLI command \(commands\[0\]\): interruptNotice must be one line of text/,
        ),
      }),
    );
  });
});
