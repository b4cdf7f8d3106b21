import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('demo mode and production', () => {
  it('refuses production without a key, naming the variable and the ways out', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(
      /DASHSCOPE_API_KEY: required when NODE_ENV=production \(or set AUTH_MODE=forward .* or DEMO=true/,
    );
  });

  it('serves demo mode in production only with DEMO=true', () => {
    expect(loadConfig({ NODE_ENV: 'production', DEMO: 'true' })).toMatchObject({ mode: 'demo', env: 'production' });
  });

  it('needs no key in production with forward mode or a key', () => {
    expect(loadConfig({ NODE_ENV: 'production', AUTH_MODE: 'forward' }).mode).toBe('remote');
    expect(loadConfig({ NODE_ENV: 'production', DASHSCOPE_API_KEY: 'k' }).mode).toBe('remote');
  });

  it('stays in demo mode by default outside production', () => {
    expect(loadConfig({}).mode).toBe('demo');
    expect(loadConfig({ NODE_ENV: 'development' }).mode).toBe('demo');
    expect(loadConfig({ NODE_ENV: 'test' }).mode).toBe('demo');
  });

  it('refuses DEMO=false without an upstream, and DEMO=true with one', () => {
    expect(() => loadConfig({ DEMO: 'false' })).toThrow(/DASHSCOPE_API_KEY: required with DEMO=false/);
    expect(() => loadConfig({ DEMO: 'true', DASHSCOPE_API_KEY: 'k' })).toThrow(/DEMO: must be unset/);
    expect(() => loadConfig({ DEMO: 'true', AUTH_MODE: 'forward' })).toThrow(/DEMO: must be unset/);
    expect(() => loadConfig({ DEMO: 'maybe' })).toThrow(/DEMO/);
  });
});
