import { describe, expect, it, vi } from 'vitest';
import { createConsoleLogger, silentLogger } from './logger.js';

function captureStderr(): string[] {
  const lines: string[] = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  return lines;
}

describe('createConsoleLogger', () => {
  it('writes `level message key=value` lines to stderr', () => {
    const lines = captureStderr();
    const logger = createConsoleLogger('debug');
    logger.info('stage done', { stage: 'demo/add', seconds: 0.5, tags: ['a'] });
    logger.debug('details');
    expect(lines).toEqual([
      'info  stage done stage=demo/add seconds=0.5 tags=["a"]\n',
      'debug details\n',
    ]);
  });

  it('drops lines below its level, and everything when silent', () => {
    const lines = captureStderr();
    const logger = createConsoleLogger('warn');
    logger.debug('no');
    logger.info('no');
    logger.warn('yes');
    logger.error('yes too');
    createConsoleLogger('silent').error('never');
    expect(lines).toEqual(['warn  yes\n', 'error yes too\n']);
  });

  it('defaults to info', () => {
    const lines = captureStderr();
    const logger = createConsoleLogger();
    logger.debug('no');
    logger.info('yes');
    expect(lines).toEqual(['info  yes\n']);
  });

  it('child loggers add their fields to every line, and line fields win', () => {
    const lines = captureStderr();
    const logger = createConsoleLogger('info', { run: 'r1' }).child({ stage: 'a' });
    logger.warn('slow', { stage: 'b', attempt: 2 });
    expect(lines).toEqual(['warn  slow run=r1 stage=b attempt=2\n']);
  });
});

describe('silentLogger', () => {
  it('writes nothing, and its children neither', () => {
    const lines = captureStderr();
    silentLogger.error('x');
    silentLogger.child({ a: 1 }).warn('y');
    expect(lines).toEqual([]);
    expect(silentLogger.child({})).toBe(silentLogger);
  });
});
