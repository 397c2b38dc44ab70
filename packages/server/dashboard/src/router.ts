// Hash routes (`#/runs/<id>`): the server serves one page, and the dashboard works unchanged
// under any path a reverse proxy mounts it on.
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { readonly page: 'runs' }
  | { readonly page: 'run'; readonly id: string; readonly node?: string }
  | { readonly page: 'sweeps'; readonly id?: string }
  | { readonly page: 'schedules' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 'runs' && parts[1] !== undefined && parts[1] !== '') {
    return parts[2] === undefined
      ? { page: 'run', id: parts[1] }
      : { page: 'run', id: parts[1], node: parts[2] };
  }
  if (parts[0] === 'sweeps') {
    return parts[1] === undefined || parts[1] === ''
      ? { page: 'sweeps' }
      : { page: 'sweeps', id: parts[1] };
  }
  if (parts[0] === 'schedules') return { page: 'schedules' };
  return { page: 'runs' };
}

/** The href of a route. */
export function href(route: Route): string {
  const e = encodeURIComponent;
  switch (route.page) {
    case 'runs':
      return '#/runs';
    case 'run':
      return `#/runs/${e(route.id)}`;
    case 'sweeps':
      return route.id === undefined ? '#/sweeps' : `#/sweeps/${e(route.id)}`;
    case 'schedules':
      return '#/schedules';
  }
}

export function navigate(route: Route): void {
  location.hash = href(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}
