// The host's DI container. reflect-metadata must be loaded before tsyringe, so this module is the
// only place that imports tsyringe.
import 'reflect-metadata';
import { type DependencyContainer, container as rootContainer } from 'tsyringe';

export type { DependencyContainer, InjectionToken } from 'tsyringe';
export { inject, injectAll, injectable, Lifecycle } from 'tsyringe';

/**
 * A new child of tsyringe's root container: one per runtime, so that nothing is ever registered
 * on the global one.
 * @internal
 */
export function createChildContainer(): DependencyContainer {
  return rootContainer.createChildContainer();
}
