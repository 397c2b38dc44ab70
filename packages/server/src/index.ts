// @phys/server — `phys serve`: the config's pipelines over a versioned HTTP API (Fastify), runs
// kept in a durable SQLite store (better-sqlite3), bearer tokens, Server-Sent Events, OpenAPI.
//
// This entry is what a phys.config.ts imports: the plugin, its options and the `phys serve`
// command as data, and nothing of Fastify or SQLite, so that every `phys` process loading the
// config stays quick to start. The server itself (startServer, SqliteRunStore, the API
// document) is `@phys/server/node`, loaded by `phys serve` when it runs.

// the `phys serve` command (its code is loaded by the CLI when it runs)
export { serveCommand } from './cli/command.js';
export { schedulesCommands } from './cli/schedules-commands.js';
// the request error body
export type { RequestIssue } from './http-error.js';
// options
export type { ResolvedServerOptions, ServerOptions } from './options.js';
export { serverOptionsSchema } from './options.js';
// the plugin
export { default } from './plugin.js';
