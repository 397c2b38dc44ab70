// @phys/server — `phys serve`: the config's pipelines over a versioned HTTP API (Fastify), runs
// kept in a durable SQLite store (better-sqlite3), bearer tokens, Server-Sent Events, OpenAPI.

// the `phys serve` command (its code is loaded by the CLI when it runs)
export { serveCommand } from './cli/command.js';
// the request error body
export type { RequestIssue } from './http-error.js';
// the API document
export { openApiDocument } from './openapi.js';
// options
export type { ResolvedServerOptions, ServerOptions } from './options.js';
export { serverOptionsSchema } from './options.js';
// the plugin
export { default } from './plugin.js';
// the run store
export type {
  RunCounts,
  RunLogEvent,
  SqliteRunStoreOptions,
  SqliteSynchronous,
} from './sqlite-run-store.js';
export { SqliteRunStore } from './sqlite-run-store.js';
// serving from code
export type { RunningServer, StartServerOptions } from './start-server.js';
export { SERVER_VERSION, startServer } from './start-server.js';
