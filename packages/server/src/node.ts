// @phys/server/node — the server itself, for serving from code: `startServer` (Fastify), the
// durable run store `SqliteRunStore` (better-sqlite3) and the OpenAPI document. Apart from the
// root entry so that a config importing the plugin does not load Fastify and SQLite. The options
// startServer takes are the plugin's, `ServerOptions` of the root entry.

// the API document
export { openApiDocument } from './openapi.js';
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
