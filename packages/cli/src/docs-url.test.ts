import { describe, expect, it } from 'vitest';
import { repositoryWebUrl } from './docs-url.js';

describe('repositoryWebUrl', () => {
  it('turns the forms of a package.json repository into a web address', () => {
    const web = 'https://github.com/phys-sim/phys';
    expect(repositoryWebUrl({ type: 'git', url: 'git+https://github.com/phys-sim/phys.git' })).toBe(
      web,
    );
    expect(repositoryWebUrl('git@github.com:phys-sim/phys.git')).toBe(web);
    expect(repositoryWebUrl('github:phys-sim/phys')).toBe(web);
    expect(repositoryWebUrl('phys-sim/phys')).toBe(web);
    expect(repositoryWebUrl({ url: 'ssh://git@github.com/phys-sim/phys.git' })).toBe(web);
  });

  it('gives nothing for a missing or placeholder repository', () => {
    expect(repositoryWebUrl(undefined)).toBeUndefined();
    expect(repositoryWebUrl({ url: '' })).toBeUndefined();
    expect(repositoryWebUrl({ url: 'https://example.invalid/phys.git' })).toBeUndefined();
  });
});
