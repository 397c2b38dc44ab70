import { describe, expect, it } from 'vitest';
import { recordingLogger } from './recording-logger.js';

describe('recordingLogger', () => {
  it('keeps info, warn and error lines in order, children included, and drops debug', () => {
    const logger = recordingLogger();
    logger.debug('polling');
    logger.info('started');
    logger.child({ node: 'a' }).warn('node cn02 is down');
    logger.error('push failed:\nECONNREFUSED');
    expect(logger.lines).toEqual([
      'info started',
      'warn node cn02 is down',
      'error push failed:\nECONNREFUSED',
    ]);
    expect(logger.warnings).toEqual(['node cn02 is down', 'push failed:\nECONNREFUSED']);
  });

  it('keeps debug lines when asked to', () => {
    const logger = recordingLogger({ debug: true });
    logger.debug('polling');
    expect(logger.lines).toEqual(['debug polling']);
    expect(logger.warnings).toEqual([]);
  });
});
