import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('tracing configuration (OTEL_*)', () => {
  it('is off without an OTLP endpoint, whatever else is set', () => {
    expect(loadConfig({}).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).tracing).toBeUndefined();
  });

  it('is off with OTEL_SDK_DISABLED=true even with an endpoint', () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).tracing).toBeUndefined();
  });

  it('takes the general endpoint as a base for /v1/traces, with OpenTelemetry defaults', () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing).toEqual({
      url: 'http://collector:4318/v1/traces',
      protocol: 'http/protobuf',
      headers: {},
      serviceName: 'finetune-gateway',
      sampler: 'parentbased_always_on',
      samplerRatio: 1,
      batchDelayMs: 5_000,
    });
  });

  it('uses the traces endpoint as it is, and the traces-specific protocol and headers over the general ones', () => {
    const tracing = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://tempo.example.com/otlp/v1/traces',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-scope-orgid=team-a,authorization=Basic%20Zm9v',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-scope-orgid=team-b',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    }).tracing;
    expect(tracing).toMatchObject({
      url: 'https://tempo.example.com/otlp/v1/traces',
      protocol: 'http/json',
      headers: { 'x-scope-orgid': 'team-b', authorization: 'Basic Zm9v' },
      sampler: 'parentbased_traceidratio',
      samplerRatio: 0.25,
    });
  });

  it('refuses grpc, an unknown sampler and a ratio outside 0..1, naming each variable', () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(() => loadConfig({ ...env, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(
      /OTEL_EXPORTER_OTLP_PROTOCOL: http\/protobuf or http\/json/,
    );
    expect(() => loadConfig({ ...env, OTEL_TRACES_SAMPLER: 'sometimes' })).toThrow(/OTEL_TRACES_SAMPLER/);
    expect(() => loadConfig({ ...env, OTEL_TRACES_SAMPLER_ARG: '2' })).toThrow(/OTEL_TRACES_SAMPLER_ARG/);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });

  it('never prints a malformed header list: it holds credentials', () => {
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_HEADERS: 'Bearer secret-token' })).toThrow(/OTEL_EXPORTER_OTLP_HEADERS: key=value pairs/);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_HEADERS: 'Bearer secret-token' })).not.toThrow(/secret-token/);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'authorization=%E0%A4%A secret' })).toThrow(/URL-encoded/);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'authorization=%E0%A4%A secret' })).not.toThrow(/secret/);
  });
});
