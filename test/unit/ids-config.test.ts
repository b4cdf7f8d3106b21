import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { isValidId } from '../../src/upstream/dashscope/ids.js';

describe('job id rule', () => {
  it.each(['ft-202410291653-1c7f', 'a', 'A_b.c:d-1', 'x'.repeat(128), '...'])('accepts %j', (id) => expect(isValidId(id)).toBe(true));
  it.each(['', '.', '..', 'a/b', '%2e%2e', '../files', '?x', '#x', 'a b', 'a\r\nb', 'é', 'x'.repeat(129), 'http://evil'])(
    'rejects %j',
    (id) => expect(isValidId(id)).toBe(false),
  );
});

describe('loadConfig', () => {
  it('defaults to demo mode with no upstream configured', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      mode: 'demo',
      port: 4000,
      host: '127.0.0.1',
      auth: { mode: 'server' },
      upstream: { region: 'intl', timeZoneOffsetMinutes: 480 },
    });
  });

  it('uses the region base URL when only a key is given', () => {
    expect(loadConfig({ DASHSCOPE_API_KEY: 'k', DASHSCOPE_REGION: 'cn-beijing' }).upstream.baseUrl).toBe('https://dashscope.aliyuncs.com');
    expect(loadConfig({ DASHSCOPE_API_KEY: 'k' }).upstream.baseUrl).toBe('https://dashscope-intl.aliyuncs.com');
  });

  it('reads a time zone offset', () => {
    expect(loadConfig({ DASHSCOPE_TIMEZONE: '-05:30' }).upstream.timeZoneOffsetMinutes).toBe(-330);
  });

  it('forward mode needs no key', () => {
    expect(loadConfig({ AUTH_MODE: 'forward' })).toMatchObject({ mode: 'remote', auth: { mode: 'forward' } });
  });

  it('reports every problem at once', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DASHSCOPE_REGION: 'mars', DASHSCOPE_BASE_URL: 'ftp://x', DASHSCOPE_TIMEZONE: 'CST', GRAPHIQL: 'maybe' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['PORT', 'DASHSCOPE_REGION', 'DASHSCOPE_BASE_URL', 'DASHSCOPE_TIMEZONE', 'GRAPHIQL'])
      expect(problems).toContain(name);
  });

  it('needs a key with a base URL in server mode, and no key in forward mode', () => {
    expect(() => loadConfig({ DASHSCOPE_BASE_URL: 'http://127.0.0.1:1' })).toThrow(/DASHSCOPE_API_KEY: required/);
    expect(() => loadConfig({ AUTH_MODE: 'forward', DASHSCOPE_API_KEY: 'k' })).toThrow(/must be unset/);
  });

  it('keeps WebSockets below the HTTP connection cap, so that HTTP always has room', () => {
    expect(loadConfig({}).realtime.maxWebSockets).toBe(512);
    expect(loadConfig({ HTTP_MAX_CONNECTIONS: '3' }).realtime.maxWebSockets).toBe(1);
    expect(loadConfig({ HTTP_MAX_CONNECTIONS: '1' }).realtime.maxWebSockets).toBe(0);
    expect(loadConfig({ WS_MAX_CONNECTIONS: '10', HTTP_MAX_CONNECTIONS: '100' }).realtime.maxWebSockets).toBe(10);
    expect(() => loadConfig({ WS_MAX_CONNECTIONS: '100', HTTP_MAX_CONNECTIONS: '100' })).toThrow(/WS_MAX_CONNECTIONS: must be below/);
  });

  it('gives one credential a quarter of the subscription slots in forward mode, all of them in server mode', () => {
    expect(loadConfig({ MAX_SUBSCRIPTIONS: '100' }).realtime.maxSubscriptionsPerCredential).toBe(100);
    expect(loadConfig({ AUTH_MODE: 'forward', MAX_SUBSCRIPTIONS: '100' }).realtime.maxSubscriptionsPerCredential).toBe(25);
    expect(loadConfig({ AUTH_MODE: 'forward', MAX_SUBSCRIPTIONS_PER_CREDENTIAL: '7' }).realtime.maxSubscriptionsPerCredential).toBe(7);
  });

  it('gives one API key a quarter of the pollers in forward mode, all of them in server mode', () => {
    expect(loadConfig({}).realtime.maxPollersPerCredential).toBe(200);
    expect(loadConfig({ AUTH_MODE: 'forward' }).realtime.maxPollersPerCredential).toBe(50);
    expect(loadConfig({ AUTH_MODE: 'forward', MAX_POLLERS: '8' }).realtime.maxPollersPerCredential).toBe(2);
    expect(loadConfig({ AUTH_MODE: 'forward', MAX_POLLERS_PER_CREDENTIAL: '7' }).realtime.maxPollersPerCredential).toBe(7);
  });

  it('leases a poller for three poll intervals by default, and refuses a lease its holder could not renew in time', () => {
    expect(loadConfig({ POLL_INTERVAL_MS: '200' }).realtime.pollerLeaseMs).toBe(600);
    expect(loadConfig({ POLLER_LEASE_MS: '5000' }).realtime.pollerLeaseMs).toBe(5_000);
    expect(() => loadConfig({ POLL_INTERVAL_MS: '500', POLLER_LEASE_MS: '500' })).toThrow(/POLLER_LEASE_MS: must be longer/);
  });
});
