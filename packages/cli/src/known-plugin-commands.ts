/**
 * A command of a first-party plugin, known without importing anything: `phys --help` lists it,
 * and running it while the config does not list its plugin says what to install and add.
 */
export interface KnownPluginCommand {
  /** The first word after `phys`. */
  readonly command: string;
  /** One line for `phys --help`. */
  readonly description: string;
  /** The plugin's name in `plugins: [...]`. */
  readonly plugin: string;
  /** The npm package that ships the plugin. */
  readonly packageName: string;
}

/** The one place that maps plugin commands to the plugins and packages that add them. */
export const KNOWN_PLUGIN_COMMANDS: readonly KnownPluginCommand[] = [
  {
    command: 'sweep',
    description: 'run a DAG pipeline once per parameter point',
    plugin: 'sweep',
    packageName: '@phys/sweep',
  },
  {
    command: 'package',
    description: 'verify model packages',
    plugin: 'ml-packager',
    packageName: '@phys/ml-packager',
  },
  {
    command: 'serve',
    description: "serve the config's pipelines over HTTP with a durable run store",
    plugin: 'server',
    packageName: '@phys/server',
  },
  {
    command: 'schedules',
    description: 'list, pause, resume and trigger the schedules phys serve fires',
    plugin: 'server',
    packageName: '@phys/server',
  },
];
