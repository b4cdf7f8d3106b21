import { describe, expect, it } from 'vitest';
import { matchRoute, ROUTES } from '../../src/emulator/router.js';

const API = '/api/v1/fine-tunes';

/** A concrete path for a route pattern: each `:name` becomes `name-1`. */
const samplePath = (pattern: string) => pattern.replace(/:(\w+)/g, '$1-1');

describe('the emulator route table', () => {
  it('has one route per method and path, each matched by its own path under an API root', () => {
    const keys = ROUTES.map((route) => `${route.method} ${route.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const route of ROUTES) {
      const match = matchRoute(route.method, samplePath(route.path));
      expect(match, `${route.method} ${route.path}`).toMatchObject({ route: route.name, underApi: true, badEscape: false });
      expect(match.handler).toBe(route.handler);
    }
  });

  it('decodes parameters after splitting, so an encoded slash stays inside the job id', () => {
    expect(matchRoute('GET', `${API}/a%2Fb/logs`)).toMatchObject({ route: 'logs', params: { jobId: 'a/b' } });
    expect(matchRoute('GET', `${API}/ft-1/export/checkpoint-%31`)).toMatchObject({
      route: 'export',
      params: { jobId: 'ft-1', checkpoint: 'checkpoint-1' },
    });
  });

  it('flags a parameter that is not a valid escape but keeps the route (counted and faulted as that route)', () => {
    expect(matchRoute('GET', `${API}/%E0%A4%A`)).toMatchObject({
      route: 'get',
      badEscape: true,
      params: {},
      rawParams: { jobId: '%E0%A4%A' },
    });
    expect(matchRoute('GET', `${API}/ft-1/export/%ZZ`)).toMatchObject({ route: 'export', badEscape: true, params: { jobId: 'ft-1' } });
  });

  it('calls a wrong method or sub-path under the API unknown, still naming its job', () => {
    expect(matchRoute('PUT', `${API}/ft-1`)).toMatchObject({ route: 'unknown', underApi: true, params: { jobId: 'ft-1' } });
    expect(matchRoute('GET', `${API}/ft-1/cancel`)).toMatchObject({ route: 'unknown', underApi: true, params: { jobId: 'ft-1' } });
    expect(matchRoute('GET', `${API}/ft-1/nope/more`)).toMatchObject({ route: 'unknown', underApi: true, params: { jobId: 'ft-1' } });
    expect(matchRoute('DELETE', API)).toMatchObject({ route: 'unknown', underApi: true, params: {} });
    expect(matchRoute('GET', `${API}/`)).toMatchObject({ route: 'unknown', underApi: true, rawParams: { jobId: '' } });
    expect(matchRoute('GET', `${API}/ft-1/export`).route).toBe('unknown');
  });

  it('leaves paths outside every API root to the plain NotFound', () => {
    for (const path of ['/', '/not-the-api', '/api/v1', `${API}x`, `/api/v1/fine-tunesx/ft-1`]) {
      expect(matchRoute('GET', path), path).toMatchObject({ route: 'unknown', underApi: false });
    }
  });
});
