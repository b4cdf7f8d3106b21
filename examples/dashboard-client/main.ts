import { execute, subscribe, type ClientOptions } from './client.js';
import { CreateJob, JobsPage, JobWithCheckpoints, WatchJob } from './operations.js';

/*
 * The dashboard's round: a page of jobs, one finished job with its checkpoints, a job started with an idempotency
 * key (and the same call again, which starts nothing new), then that job watched over SSE until it ends.
 *
 *   npm start                                                          # a gateway in demo mode, in another shell
 *   npx tsx examples/dashboard-client/main.ts                          # GATEWAY_URL defaults to http://localhost:4000/graphql
 *   DOCUMENT_ID_ONLY=true npx tsx examples/dashboard-client/main.ts    # against PERSISTED_DOCUMENTS_ONLY=true
 */

const options: ClientOptions = {
  url: process.env.GATEWAY_URL ?? 'http://localhost:4000/graphql',
  documentIdOnly: process.env.DOCUMENT_ID_ONLY === 'true',
};

const { fineTuneJobs } = await execute(options, JobsPage, { page: 1, pageSize: 5 });
console.log(`jobs: ${fineTuneJobs.total} in all, ${fineTuneJobs.items.length} on page 1`);

// A finished job if the page has one (it has its checkpoints), else the newest.
const shown = fineTuneJobs.items.find((job) => job.status === 'SUCCEEDED') ?? fineTuneJobs.items[0];
if (shown) {
  const { fineTuneJob } = await execute(options, JobWithCheckpoints, { id: shown.id });
  const cost = fineTuneJob?.costEstimate ? `${fineTuneJob.costEstimate.amount} ${fineTuneJob.costEstimate.currency}` : 'unknown';
  console.log(`job ${shown.id}: ${fineTuneJob?.status}, ${fineTuneJob?.checkpoints?.length ?? 0} checkpoints, cost ${cost}`);
}

// A text model: DashScope requires the three hyper-parameters that drive its cost (the gateway refuses a create without).
const input = { model: 'qwen3-8b', trainingFileIds: ['file-ft-demo'], hyperParameters: { nEpochs: 1, batchSize: 8, maxLength: 2048 } };
const idempotencyKey = `dashboard-example-${Date.now()}`;
const created = (await execute(options, CreateJob, { input, idempotencyKey })).createFineTuneJob;
const again = (await execute(options, CreateJob, { input, idempotencyKey })).createFineTuneJob;
console.log(`created ${created.id} (${created.status}); the same key again: ${again.id === created.id ? 'same job' : 'ANOTHER JOB'}`);

const statuses: string[] = [];
for await (const { fineTuneJobUpdated } of subscribe(options, WatchJob, { id: created.id })) {
  if (statuses.at(-1) !== fineTuneJobUpdated.status) statuses.push(fineTuneJobUpdated.status);
  if (fineTuneJobUpdated.isTerminal) break;
}
console.log(`watched ${created.id}: ${statuses.join(' → ')}`);
