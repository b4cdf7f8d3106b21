import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TEXT_JOB_INPUT } from '../support/creates.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * DashScope answers 429 Throttling for two limits that only the message tells apart: the per-user job quota (waiting
 * does not help) and "too many running" (it clears as jobs finish).
 */

const CREATE = `mutation($input: CreateFineTuneJobInput!) { createFineTuneJob(input: $input) { id } }`;
const input = TEXT_JOB_INPUT;

let stack: Stack;
beforeAll(async () => {
  // The seeded jobs already hold more than one RUNNING or SUCCEEDED place: a quota of 1 is used up.
  stack = await startStack({ emulator: { jobQuota: 1 } });
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.emulator.clearFaults();
  stack.emulator.resetStats();
});

describe('429 Throttling on create', () => {
  it('is QUOTA_EXCEEDED, not retryable, with the remedy, when the per-user job quota is used up', async () => {
    const { body } = await stack.gql(CREATE, { input });
    expect(body.data).toBeNull();
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      retryable: false,
      upstream: { code: 'Throttling', httpStatus: 429 },
    });
    expect(body.errors?.[0]?.message).toContain('Only 20 fine-tune job in running or succeeded allowed per user.');
    expect(body.errors?.[0]?.message).toContain('cancel or delete jobs you no longer need');
    expect(body.errors?.[0]?.message).toContain('ask Alibaba Cloud for a higher quota');
    expect(stack.upstreamCalls('create')).toBe(1);
  });

  it('stays RATE_LIMITED and retryable for "too many running"', async () => {
    stack.emulator.injectFault({
      match: { route: 'create' },
      times: 1,
      fault: { kind: 'status', status: 429, code: 'Throttling', message: 'Too many fine-tune job in running, please retry later.' },
    });
    const { body } = await stack.gql(CREATE, { input });
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryable: true, upstream: { code: 'Throttling' } });
    expect(body.errors?.[0]?.message).toContain('Too many fine-tune job in running, please retry later.');
    expect(stack.upstreamCalls('create')).toBe(1);
  });
});

describe('429 quota on a read', () => {
  it('is not retried', async () => {
    stack.emulator.injectFault({
      match: { route: 'list' },
      fault: {
        kind: 'status',
        status: 429,
        code: 'Throttling',
        message: 'Only 20 fine-tune job in running or succeeded allowed per user.',
      },
    });
    const { body } = await stack.gql(`{ fineTuneJobs { total } }`);
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'QUOTA_EXCEEDED', retryable: false });
    expect(stack.upstreamCalls('list')).toBe(1);
  });
});
