import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PhysError } from '@phys/core';
import type { Registry } from 'prom-client';

/** The path Prometheus scrapes. */
export const METRICS_PATH = '/metrics';

/** Brackets an IPv6 address for a URL. */
function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Serves `registry` at `/metrics` on `host:port` (404 for any other path, 405 for a method other
 * than GET or HEAD). Resolves once it listens; a port already in use or not allowed is a
 * `PhysError` that says what to change.
 */
export async function serveMetrics(
  registry: Registry,
  port: number,
  host: string,
): Promise<{ readonly url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== METRICS_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`Not found. Prometheus metrics are at ${METRICS_PATH}.\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('Method not allowed: use GET.\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`Could not collect the metrics: ${String(error)}\n`);
      },
    );
  });
  // A scraper's kept-alive connection must not hold the process open once the run is over.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(listenError(error, port, host));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
  // Never the reason a process stays alive: it serves while something else keeps the process up.
  server.unref();
  const address = server.address() as AddressInfo;
  const url = `http://${urlHost(host)}:${address.port}${METRICS_PATH}`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listenError(error: NodeJS.ErrnoException, port: number, host: string): PhysError {
  const where = `${host}:${port}`;
  if (error.code === 'EADDRINUSE') {
    return new PhysError(
      'PHYS_METRICS_PORT_IN_USE',
      `Cannot serve Prometheus metrics on ${where}: the port is already in use (another phys process, or another exporter). Choose another port (serve.port in the metrics-prometheus options, or phys run --metrics-port), or 0 for any free port.`,
      { cause: error, details: { port, host } },
    );
  }
  const why =
    error.code === 'EACCES'
      ? 'this user may not listen on that port (ports below 1024 need privileges)'
      : error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND'
        ? 'that address does not belong to this machine'
        : error.message;
  return new PhysError(
    'PHYS_METRICS_SERVE_FAILED',
    `Cannot serve Prometheus metrics on ${where}: ${why}. Change serve.host or serve.port in the metrics-prometheus options.`,
    { cause: error, details: { port, host, code: error.code } },
  );
}
