import { describe, expect, it } from 'vitest';
import { BoundedLabel } from '../../src/metrics/metrics.js';
import { endpointTemplate } from '../../src/upstream/dashscope/index.js';

describe('metric labels', () => {
  it('name an upstream endpoint by its route template, never by an id', () => {
    expect(endpointTemplate('GET', undefined, '')).toBe('GET /fine-tunes');
    expect(endpointTemplate('GET', undefined, '/ft-202410291653-1c7f')).toBe('GET /fine-tunes/{id}');
    expect(endpointTemplate('POST', undefined, '/ft-x/cancel')).toBe('POST /fine-tunes/{id}/cancel');
    expect(endpointTemplate('GET', undefined, '/ft-x/export/checkpoint-7')).toBe('GET /fine-tunes/{id}/export/{name}');
    expect(endpointTemplate('GET', undefined, '/ft-x/validation-details/ck%2F1')).toBe('GET /fine-tunes/{id}/validation-details/{name}');
    expect(endpointTemplate('PUT', 'deployments', '/dep-1/scale')).toBe('PUT /deployments/{id}/scale');
    expect(endpointTemplate('DELETE', 'files', '/file-ft-0001')).toBe('DELETE /files/{id}');
  });

  it('keep client-chosen values within a pattern and a count, the rest as "other"', () => {
    const names = new BoundedLabel(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 2);
    expect(names.of(undefined, 'anonymous')).toBe('anonymous');
    expect(names.of('One')).toBe('One');
    expect(names.of('x"y')).toBe('other');
    expect(names.of('a'.repeat(65))).toBe('other');
    expect(names.of('Two')).toBe('Two');
    expect(names.of('Three')).toBe('other');
    expect(names.of('One')).toBe('One');
  });

  it('admit at most `perOwner` new values for one owner, and none when not allowed; an admitted value is everyone’s', () => {
    const names = new BoundedLabel(/^[A-Za-z]+$/, 4, 2);
    expect(names.of('Refused', 'none', false)).toBe('other');
    expect(names.of('A', 'none', { owner: 'k1' })).toBe('A');
    expect(names.of('B', 'none', { owner: 'k1' })).toBe('B');
    expect(names.of('C', 'none', { owner: 'k1' })).toBe('other');
    expect(names.of('C', 'none', { owner: 'k2' })).toBe('C');
    expect(names.of('A', 'none', false)).toBe('A');
    expect(names.of('Listed')).toBe('Listed');
    expect({ size: names.size, largestShare: names.largestShare }).toEqual({ size: 4, largestShare: 2 });
    expect(names.of('D', 'none', { owner: 'k3' })).toBe('other');
  });
});
