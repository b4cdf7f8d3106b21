import DataLoader from 'dataloader';
import { createSchema, createYoga } from 'graphql-yoga';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { DEMO_API_KEY } from '../../src/emulator/index.js';
import { jobResolvers, pageOf, typeDefs, type DashScopeJob, type DashScopeJobList } from './job-schema.js';

/*
 * Peer of the bench: a lean graphql-yoga server with a DataLoader per request over an undici pool, and nothing else
 * (no cache across requests, no plugins). DashScope has no batch read, so the loader's batch is that many GETs in
 * parallel; what it saves is repeated ids within one operation.
 */
const { values } = parseArgs({
  options: { upstream: { type: 'string' }, port: { type: 'string', default: '0' }, key: { type: 'string', default: DEMO_API_KEY } },
});
if (!values.upstream) {
  console.error('usage: lean-yoga --upstream http://127.0.0.1:PORT [--port N] [--key KEY]');
  process.exit(1);
}
// undici's defaults, as a team would leave them: no cap on connections to the upstream.
const pool = new Pool(values.upstream);
const headers = { authorization: `Bearer ${values.key}`, accept: 'application/json' };

async function get<T>(path: string): Promise<T> {
  const response = await pool.request({ method: 'GET', path: `/api/v1/fine-tunes${path}`, headers });
  const body = (await response.body.json()) as { output: T; message?: string };
  if (response.statusCode !== 200) throw new Error(`DashScope answered ${response.statusCode}: ${body.message ?? ''}`);
  return body.output;
}

interface Context {
  jobs: DataLoader<string, DashScopeJob>;
}

const yoga = createYoga({
  schema: createSchema<Context>({
    typeDefs,
    resolvers: {
      Query: {
        fineTuneJob: (_: unknown, { id }: { id: string }, { jobs }: Context) => jobs.load(id),
        fineTuneJobsByIds: (_: unknown, { ids }: { ids: string[] }, { jobs }: Context) => ids.map((id) => jobs.load(id)),
        fineTuneJobs: async (_: unknown, { page, pageSize }: { page: number; pageSize: number }, { jobs }: Context) => {
          const list = await get<DashScopeJobList>(`?page_no=${page}&page_size=${pageSize}`);
          for (const job of list.jobs) jobs.prime(job.job_id, job);
          return pageOf(list, page, pageSize);
        },
      },
      ...jobResolvers,
    },
  }),
  context: () => ({
    jobs: new DataLoader<string, DashScopeJob>((ids) =>
      Promise.all(ids.map((id) => get<DashScopeJob>(`/${encodeURIComponent(id)}`).catch((error: Error) => error))),
    ),
  }),
  graphiql: false,
  landingPage: false,
});

const server = createServer((req, res) => void yoga(req, res));
server.listen(Number(values.port), '127.0.0.1', () => {
  console.log(`lean yoga peer listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
