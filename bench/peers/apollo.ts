import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { RESTDataSource, type AugmentedRequest } from '@apollo/datasource-rest';
import { parseArgs } from 'node:util';
import { DEMO_API_KEY } from '../../src/emulator/index.js';
import { jobResolvers, pageOf, typeDefs, type DashScopeJob, type DashScopeJobList } from './job-schema.js';

/*
 * Peer of the bench: Apollo Server 5 (its standalone server) with a RESTDataSource per request, as Apollo's docs
 * show it. RESTDataSource's defaults are left as they are: GETs are de-duplicated for the lifetime of a request, and
 * its HTTP cache (in the server's cache) keeps what the upstream's cache headers allow (DashScope sends none).
 */
const { values } = parseArgs({
  options: { upstream: { type: 'string' }, port: { type: 'string', default: '0' }, key: { type: 'string', default: DEMO_API_KEY } },
});
if (!values.upstream) {
  console.error('usage: apollo --upstream http://127.0.0.1:PORT [--port N] [--key KEY]');
  process.exit(1);
}
const upstream = values.upstream;
const apiKey = values.key;

class DashScopeAPI extends RESTDataSource {
  override baseURL = `${upstream}/api/v1/`;

  protected override willSendRequest(_path: string, request: AugmentedRequest) {
    request.headers.authorization = `Bearer ${apiKey}`;
  }

  async getJob(id: string): Promise<DashScopeJob> {
    const body = await this.get<{ output: DashScopeJob }>(`fine-tunes/${encodeURIComponent(id)}`);
    return body.output;
  }

  async listJobs(page: number, pageSize: number): Promise<DashScopeJobList> {
    const body = await this.get<{ output: DashScopeJobList }>('fine-tunes', {
      params: { page_no: String(page), page_size: String(pageSize) },
    });
    return body.output;
  }
}

interface Context {
  dataSources: { dashScope: DashScopeAPI };
}

const server = new ApolloServer<Context>({
  typeDefs,
  resolvers: {
    Query: {
      fineTuneJob: (_: unknown, { id }: { id: string }, { dataSources }: Context) => dataSources.dashScope.getJob(id),
      fineTuneJobsByIds: (_: unknown, { ids }: { ids: string[] }, { dataSources }: Context) =>
        ids.map((id) => dataSources.dashScope.getJob(id)),
      fineTuneJobs: async (_: unknown, { page, pageSize }: { page: number; pageSize: number }, { dataSources }: Context) =>
        pageOf(await dataSources.dashScope.listJobs(page, pageSize), page, pageSize),
    },
    ...jobResolvers,
  },
});

const { url } = await startStandaloneServer(server, {
  listen: { port: Number(values.port), host: '127.0.0.1' },
  context: () => Promise.resolve({ dataSources: { dashScope: new DashScopeAPI({ cache: server.cache }) } }),
});
console.log(`apollo peer listening on ${url}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
