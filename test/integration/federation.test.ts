import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { composeServices } from '@theguild/federation-composition';
import { parse } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SEED_JOB_IDS } from '../../src/emulator/index.js';
import { DashScopeClient } from '../../src/upstream/dashscope/index.js';
import { captureLogs } from '../support/logs.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * The gateway as an Apollo Federation v2 subgraph (docs/federation.md): its `_service { sdl }` composed with a second
 * subgraph (teams, whose `Team.fineTuneJobs` only names job ids) by @theguild/federation-composition, served by a real
 * Hive Gateway process from npm that forwards the caller's Authorization header. The gateway runs in forward mode, so
 * every job read through Hive Gateway proves the credential crossed the hop. The cross-request cache is off: every read
 * reaches the emulator and is counted.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HIVE_BIN = join(ROOT, 'node_modules/@graphql-hive/gateway/dist/bin.js');
const UNKNOWN_JOB = 'ft-209901010000-0000';
const TEAM_JOBS = [SEED_JOB_IDS.contractExample, SEED_JOB_IDS.cosyVoice, SEED_JOB_IDS.failed, SEED_JOB_IDS.bigUsage];
const TEAMS: Record<string, { name: string; jobs: string[] }> = {
  // A repeated id: one upstream read.
  t1: { name: 'Speech', jobs: [...TEAM_JOBS, SEED_JOB_IDS.contractExample] },
  t2: { name: 'Ghosts', jobs: [SEED_JOB_IDS.contractExample, UNKNOWN_JOB] },
};

const teamsTypeDefs = parse(/* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Query {
    team(id: ID!): Team
  }
  type Team @key(fields: "id") {
    id: ID!
    name: String!
    fineTuneJobs: [FineTuneJob!]!
  }
  type FineTuneJob @key(fields: "id", resolvable: false) {
    id: ID!
  }
`);

let stack: Stack;
let auth: Record<string, string>;
let teams: Server;
/** Between Hive Gateway and ours, passing requests through: what the router sends our subgraph. */
let tap: Server;
const tapped: Array<{
  method?: string;
  contentType?: string;
  authorization: boolean;
  body: { query: string; variables?: Record<string, any> };
}> = [];
let hive: ChildProcess | undefined;
let hiveUrl: string;
const dir = mkdtempSync(join(tmpdir(), 'gateway-federation-'));

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A port free a moment ago, for the CLI (which takes a port, not a listening socket). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await listen(probe);
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Starts `hive-gateway supergraph`, resolving once it logs that it listens; rejects if it exits first. */
async function startHiveGateway(supergraphFile: string, configFile: string): Promise<string> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [HIVE_BIN, 'supergraph', supergraphFile, '--host', '127.0.0.1', '--port', String(port), '-c', configFile],
    {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  hive = child;
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/Listening on/.test(output)) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`hive-gateway exited (${code}) before listening:\n${output}`)));
  });
  return `http://127.0.0.1:${port}/graphql`;
}

async function passThrough(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const { 'content-type': contentType, authorization } = request.headers;
  tapped.push({ method: request.method, contentType, authorization: authorization !== undefined, body: JSON.parse(body.toString()) });
  const headers = Object.fromEntries(
    Object.entries({ 'content-type': contentType, accept: request.headers.accept, authorization }).filter(([, v]) => v !== undefined),
  ) as Record<string, string>;
  const answer = await fetch(`${stack.url}/graphql`, { method: request.method, headers, body });
  response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
  response.end(Buffer.from(await answer.arrayBuffer()));
}

async function throughHive(query: string, headers: Record<string, string> = auth) {
  const response = await fetch(hiveUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query }),
  });
  return {
    status: response.status,
    body: (await response.json()) as {
      data?: Record<string, any> | null;
      errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
    },
  };
}

beforeAll(async () => {
  stack = await startStack({ env: { AUTH_MODE: 'forward', CACHE_ENABLED: 'false' } });
  auth = { authorization: `Bearer ${stack.emulator.demoApiKey}` };

  const teamsSchema = buildSubgraphSchema({
    typeDefs: teamsTypeDefs,
    resolvers: {
      Query: { team: (_: unknown, { id }: { id: string }) => (TEAMS[id] ? { id, ...TEAMS[id] } : null) },
      Team: {
        __resolveReference: ({ id }: { id: string }) => (TEAMS[id] ? { id, ...TEAMS[id] } : null),
        fineTuneJobs: (team: { jobs: string[] }) => team.jobs.map((id) => ({ __typename: 'FineTuneJob', id })),
      },
    },
  });
  const teamsYoga = createYoga({ schema: teamsSchema, logging: false });
  teams = createServer((req, res) => void teamsYoga(req, res));
  const teamsUrl = `${await listen(teams)}/graphql`;

  tap = createServer((request, response) => void passThrough(request, response));
  const tapUrl = `${await listen(tap)}/graphql`;

  // Our subgraph's SDL as a composition tool fetches it: `_service { sdl }` of the running gateway.
  const { _service } = await stack.ok<{ _service: { sdl: string } }>('{ _service { sdl } }');
  const composed = composeServices([
    { name: 'finetune', typeDefs: parse(_service.sdl), url: tapUrl },
    { name: 'teams', typeDefs: teamsTypeDefs, url: teamsUrl },
  ]);
  if (composed.errors) throw new Error(`composition failed:\n${composed.errors.map((e) => e.message).join('\n')}`);
  const supergraphFile = join(dir, 'supergraph.graphql');
  writeFileSync(supergraphFile, composed.supergraphSdl);
  // The caller's credential goes on to every subgraph (docs/federation.md shows the same file).
  const configFile = join(dir, 'gateway.config.mjs');
  writeFileSync(
    configFile,
    `export const gatewayConfig = {
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({ authorization: request.headers.get('authorization') ?? undefined }),
  },
};
`,
  );
  hiveUrl = await startHiveGateway(supergraphFile, configFile);
}, 90_000);

afterAll(async () => {
  if (hive && hive.exitCode === null) {
    const exited = new Promise((resolve) => hive!.once('exit', resolve));
    hive.kill('SIGKILL');
    await exited;
  }
  await new Promise((resolve) => teams?.close(resolve));
  await new Promise((resolve) => tap?.close(resolve));
  await stack?.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  stack.emulator.resetStats();
  tapped.length = 0;
});

describe('through a real Hive Gateway', () => {
  it('answers a query that crosses both subgraphs: one _entities request from the router, one upstream read per distinct job', async () => {
    const { status, body } = await throughHive(
      `{ team(id: "t1") { name fineTuneJobs { id status model costEstimate { amount currency } } } }`,
    );
    expect({ status, errors: body.errors }).toEqual({ status: 200, errors: undefined });
    const jobs = body.data!.team.fineTuneJobs as Array<Record<string, unknown>>;
    expect(body.data!.team.name).toBe('Speech');
    expect(jobs.map((j) => j.id)).toEqual(TEAMS.t1!.jobs);
    expect(jobs[0]).toEqual({
      id: SEED_JOB_IDS.contractExample,
      status: 'SUCCEEDED',
      model: 'qwen3-14b',
      costEstimate: { amount: expect.any(Number), currency: 'USD' },
    });
    expect(jobs.find((j) => j.id === SEED_JOB_IDS.failed)?.status).toBe('FAILED');
    // One `_entities` request for all five references, a JSON POST with the caller's credential (so CSRF and forward
    // mode let it through), and four distinct jobs: four upstream reads, nothing else.
    expect(tapped.map(({ method, contentType, authorization }) => ({ method, contentType, authorization }))).toEqual([
      { method: 'POST', contentType: 'application/json', authorization: true },
    ]);
    expect(tapped[0]!.body.query).toContain('_entities');
    expect(new Set(tapped[0]!.body.variables?.representations.map((r: { id: string }) => r.id))).toEqual(new Set(TEAM_JOBS));
    expect(stack.upstreamCalls()).toBe(TEAM_JOBS.length);
  });

  it('passes our error codes through: NOT_FOUND for an unknown job, UNAUTHENTICATED without a credential', async () => {
    const missing = await throughHive(`{ team(id: "t2") { name fineTuneJobs { id status } } }`);
    expect(missing.body.errors?.map((e) => e.extensions?.code)).toContain('NOT_FOUND');
    expect(JSON.stringify(missing.body)).toContain(UNKNOWN_JOB);

    stack.emulator.resetStats();
    const anonymous = await throughHive(`{ team(id: "t1") { fineTuneJobs { id status } } }`, {});
    expect(anonymous.body.errors?.map((e) => e.extensions?.code)).toContain('UNAUTHENTICATED');
    expect(stack.upstreamCalls()).toBe(0);
  });
});

describe('_entities on the gateway itself', () => {
  const entities = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on FineTuneJob { id status } } }`;
  const jobRef = (id: string) => ({ __typename: 'FineTuneJob', id });

  it('reads 50 representations like fineTuneJobsByIds reads the same ids: one upstream read per distinct job', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => TEAM_JOBS[i % TEAM_JOBS.length]!);
    const byEntities = await stack.ok<{ _entities: Array<{ id: string }> }>(entities, { r: ids.map(jobRef) }, auth);
    const entityCalls = stack.upstreamCalls();
    stack.emulator.resetStats();
    const byIds = await stack.ok<{ fineTuneJobsByIds: Array<{ id: string }> }>(
      `query ($ids: [ID!]!) { fineTuneJobsByIds(ids: $ids) { id status } }`,
      { ids },
      auth,
    );
    expect(byEntities._entities).toEqual(byIds.fineTuneJobsByIds);
    expect({ entityCalls, byIdsCalls: stack.upstreamCalls() }).toEqual({ entityCalls: TEAM_JOBS.length, byIdsCalls: TEAM_JOBS.length });
  });

  it('answers an unknown job with null and the NOT_FOUND of fineTuneJob(id), the other entities still resolved', async () => {
    const response = await stack.gql(entities, { r: [jobRef(SEED_JOB_IDS.failed), jobRef(UNKNOWN_JOB)] }, auth);
    expect(response.body.data?._entities).toEqual([{ id: SEED_JOB_IDS.failed, status: 'FAILED' }, null]);
    const single = await stack.gql(`{ fineTuneJob(id: "${UNKNOWN_JOB}") { id } }`, undefined, auth);
    const { message, extensions } = single.body.errors![0]!;
    expect(response.body.errors).toEqual([
      {
        message,
        path: ['_entities', 1],
        locations: expect.any(Array),
        // The same error but for DashScope's id of each 404.
        extensions: { ...extensions, code: 'NOT_FOUND', upstream: { ...(extensions!.upstream as object), requestId: expect.any(String) } },
      },
    ]);
  });

  it('refuses a representation it cannot resolve at its index, BAD_USER_INPUT, without an upstream call for it', async () => {
    const response = await stack.gql(
      entities,
      {
        r: [{ __typename: 'Team', id: 't1' }, { __typename: 'FineTuneJob' }, jobRef('../etc/passwd'), 'ft-1', jobRef(SEED_JOB_IDS.failed)],
      },
      auth,
    );
    expect(response.body, JSON.stringify(response.body)).toMatchObject({
      data: { _entities: [null, null, null, null, { id: SEED_JOB_IDS.failed, status: 'FAILED' }] },
    });
    // In the order they failed: the id rule's refusal comes a tick after the shape checks.
    const errors = response.body.errors?.map((e) => [e.path, e.extensions?.code]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(errors).toEqual([
      [['_entities', 0], 'BAD_USER_INPUT'],
      [['_entities', 1], 'BAD_USER_INPUT'],
      [['_entities', 2], 'BAD_USER_INPUT'],
      [['_entities', 3], 'BAD_USER_INPUT'],
    ]);
    expect(JSON.stringify(response.body)).not.toMatch(/stack|at .*\.js/);
    expect(stack.upstreamCalls()).toBe(1);
  });

  it('resolves deployments and training files by reference, null when unknown like deployment(id) and trainingFile(id)', async () => {
    const { trainingFiles, deployments } = await stack.ok<{
      trainingFiles: { items: Array<{ id: string }> };
      deployments: { items: Array<{ id: string }> };
    }>(`{ trainingFiles(pageSize: 1) { items { id } } deployments(pageSize: 1) { items { id } } }`, undefined, auth);
    const file = trainingFiles.items[0]!.id;
    const refs = [
      { __typename: 'TrainingFile', id: file },
      { __typename: 'TrainingFile', id: 'file-unknown' },
      ...deployments.items.map((d) => ({ __typename: 'Deployment', id: d.id })),
      { __typename: 'Deployment', id: 'unknown-deployment' },
    ];
    const response = await stack.gql(
      `query ($r: [_Any!]!) { _entities(representations: $r) { __typename ... on TrainingFile { id } ... on Deployment { id status } } }`,
      { r: refs },
      auth,
    );
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?._entities).toEqual([
      { __typename: 'TrainingFile', id: file },
      null,
      ...deployments.items.map((d) => ({ __typename: 'Deployment', id: d.id, status: expect.any(String) })),
      null,
    ]);
  });

  it('meets the same limits as a huge list: 10,000 representations and 300 both refused before any upstream call', async () => {
    const huge = await stack.gql(entities, { r: Array.from({ length: 10_000 }, (_, i) => jobRef(`ft-${i}`)) }, auth);
    expect(huge.status).toBe(413);
    expect(huge.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'maxBodyBytes' });

    const many = await stack.gql(entities, { r: Array.from({ length: 300 }, (_, i) => jobRef(`ft-${i}`)) }, auth);
    expect(many.body.data ?? null).toBeNull();
    expect(many.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'maxUpstreamCalls' });
    expect(stack.upstreamCalls()).toBe(0);
  });

  it('needs the caller credential like any read: UNAUTHENTICATED without one', async () => {
    const response = await stack.gql(entities, { r: [jobRef(SEED_JOB_IDS.failed)] });
    expect(response.body.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    expect(stack.upstreamCalls()).toBe(0);
  });
});

/** An upstream client with a bug for one job: a plain error carrying internal detail. */
class BrokenClient extends DashScopeClient {
  override async getJob(...args: Parameters<DashScopeClient['getJob']>): ReturnType<DashScopeClient['getJob']> {
    if (args[1] === SEED_JOB_IDS.contractExample) throw new TypeError('Cannot read properties of undefined at /srv/gateway/internal.ts:42');
    return super.getJob(...args);
  }
}

describe('_entities in production posture', () => {
  it('masks an unexpected error like any field, and keeps the operation limits', async () => {
    const logs = captureLogs();
    const production = await startStack({
      env: { NODE_ENV: 'production' },
      logs,
      client: (config, emulatorUrl) => new BrokenClient({ ...config.upstream, baseUrl: emulatorUrl }),
    });
    try {
      const query = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on FineTuneJob { id status } } }`;
      const response = await production.gql(query, {
        r: [SEED_JOB_IDS.contractExample, SEED_JOB_IDS.failed].map((id) => ({ __typename: 'FineTuneJob', id })),
      });
      expect(response.body.data?._entities).toEqual([null, { id: SEED_JOB_IDS.failed, status: 'FAILED' }]);
      expect(response.body.errors).toEqual([
        {
          message: 'Unexpected error.',
          path: ['_entities', 0],
          locations: expect.any(Array),
          extensions: { code: 'INTERNAL_SERVER_ERROR', retryable: false },
        },
      ]);
      expect(JSON.stringify(response.body)).not.toContain('/srv/gateway');
      // The operator's copy, in the log only.
      expect(logs.lines.some((line) => line.includes('/srv/gateway/internal.ts'))).toBe(true);

      production.emulator.resetStats();
      const aliases = Array.from({ length: 31 }, (_, i) => `a${i}: _entities(representations: $r) { __typename }`).join(' ');
      const tooMany = await production.gql(`query ($r: [_Any!]!) { ${aliases} }`, { r: [] });
      expect(tooMany.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'maxAliases' });
      expect(production.upstreamCalls()).toBe(0);
    } finally {
      await production.close();
    }
  });
});

describe('_service with INTROSPECTION=false', () => {
  it('is refused like __schema, and _entities still answers', async () => {
    const locked = await startStack({ env: { INTROSPECTION: 'false' } });
    try {
      const refused = await locked.gql('{ _service { sdl } }');
      expect(refused.body.data ?? null).toBeNull();
      expect(refused.body.errors?.[0]).toMatchObject({
        message: expect.stringContaining('introspection'),
        extensions: { code: 'BAD_USER_INPUT' },
      });
      const entity = await locked.ok(
        `{ _entities(representations: [{ __typename: "FineTuneJob", id: "${SEED_JOB_IDS.failed}" }]) { ... on FineTuneJob { status } } }`,
      );
      expect(entity).toEqual({ _entities: [{ status: 'FAILED' }] });
    } finally {
      await locked.close();
    }
  });
});
