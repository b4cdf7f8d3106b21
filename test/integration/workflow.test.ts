import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSse, type SseStream } from '../support/sse.js';
import { startStack, type Stack } from '../support/stack.js';

/*
 * The whole fine-tuning workflow as a client walks it, over real HTTP against the emulator: upload a training file
 * (multipart), create a job from it, watch it to SUCCEEDED over SSE, export a checkpoint, deploy the job's output
 * model, watch the deployment to RUNNING, scale it, delete it, delete the file. The emulator's clock moves only when
 * the test moves it, so each status is seen on purpose and nothing waits through a phase.
 */

const PHASE_MS = 1_000;
/** How long the emulator takes to make an exported checkpoint's model (src/emulator/jobs.ts EXPORT_MS), and then some. */
const EXPORT_MS = 3_500;
const JSONL = '{"messages":[{"role":"user","content":"What is the capital of France?"},{"role":"assistant","content":"Paris."}]}\n';

/** The multipart request a client such as apollo-upload-client sends, with the header that forces a CORS preflight. */
async function upload(url: string, filename: string, content: string) {
  const form = new FormData();
  form.append(
    'operations',
    JSON.stringify({
      query: 'mutation($file: File!) { uploadTrainingFile(file: $file) { id filename bytes purpose status } }',
      variables: { file: null },
    }),
  );
  form.append('map', JSON.stringify({ 0: ['variables.file'] }));
  form.append('0', new Blob([content], { type: 'application/jsonl' }), filename);
  const response = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'graphql-preflight': '1' }, body: form });
  return { status: response.status, body: (await response.json()) as { data?: Record<string, any>; errors?: unknown[] } };
}

describe('the fine-tuning workflow, end to end', () => {
  let now = Date.parse('2026-11-27T08:00:00Z');
  let stack: Stack;
  const streams: SseStream[] = [];
  beforeAll(async () => {
    stack = await startStack({
      env: { POLL_INTERVAL_MS: '50', CACHE_ENABLED: 'false' },
      emulator: { now: () => now, phaseDurationsMs: { pending: PHASE_MS, queuing: PHASE_MS, running: PHASE_MS } },
    });
  });
  afterAll(async () => {
    for (const stream of streams) stream.close();
    await stack?.close();
  });

  const watch = async (query: string, variables: Record<string, unknown>) => {
    const stream = await openSse(stack.url, query, variables);
    streams.push(stream);
    expect(stream.status).toBe(200);
    return stream;
  };
  /** The upstream calls since the last check, by route: each step asserts exactly the calls it should have made. */
  const callsSince = () => {
    const { byRoute } = stack.emulator.stats();
    stack.emulator.resetStats();
    return byRoute;
  };

  it('upload → create → watch → export → deploy → scale → delete, each step one upstream call where it should be', async () => {
    stack.emulator.resetStats();

    // 1. Upload: streamed to DashScope's files API, then readable by id.
    const uploaded = await upload(stack.url, 'capitals.jsonl', JSONL.repeat(4));
    expect(uploaded.status).toBe(200);
    const file = uploaded.body.data!.uploadTrainingFile as Record<string, any>;
    expect(file).toMatchObject({ filename: 'capitals.jsonl', bytes: JSONL.length * 4, purpose: 'fine-tune' });
    expect(file.id).toMatch(/^file-/);
    const { trainingFile } = await stack.ok('query($id: ID!) { trainingFile(id: $id) { id filename bytes } }', { id: file.id });
    expect(trainingFile).toEqual({ id: file.id, filename: 'capitals.jsonl', bytes: JSONL.length * 4 });
    expect(callsSince()).toEqual({ 'file-upload': 1, 'file-get': 1 });

    // 2. Create from that file, with the hyper-parameters text models require and an idempotency key.
    const CREATE = `mutation($input: CreateFineTuneJobInput!, $key: String) {
      createFineTuneJob(input: $input, idempotencyKey: $key) { id status model fineTunedModel trainingFiles { id filename } }
    }`;
    const input = {
      model: 'qwen3-8b',
      trainingDatasets: [{ fileId: file.id }],
      hyperParameters: { nEpochs: 2, batchSize: 8, maxLength: 2048, saveStrategy: 'epoch' },
    };
    const { createFineTuneJob: job } = await stack.ok(CREATE, { input, key: 'workflow-1' });
    expect(job).toMatchObject({ status: 'PENDING', model: 'qwen3-8b', trainingFiles: [{ id: file.id, filename: 'capitals.jsonl' }] });
    // A repeated create (a double click, a retry) with the same key answers the same job; DashScope saw one create,
    // after one look for a job made under that key (the list), and one file read per answer's `trainingFiles`.
    expect((await stack.ok(CREATE, { input, key: 'workflow-1' })).createFineTuneJob.id).toBe(job.id);
    expect(callsSince()).toEqual({ list: 1, create: 1, 'file-get': 2 });

    // 3. Watch it over SSE, moving the emulator's clock one phase at a time; the stream completes at SUCCEEDED.
    const jobStream = await watch('subscription($id: ID!) { fineTuneJobUpdated(id: $id) { id status fineTunedModel } }', { id: job.id });
    const statuses: string[] = [];
    const nextStatus = async () => {
      const payload = await jobStream.next();
      expect(payload?.errors).toBeUndefined();
      statuses.push(payload!.data!.fineTuneJobUpdated.status);
      return payload!.data!.fineTuneJobUpdated as Record<string, any>;
    };
    await nextStatus();
    for (let i = 0; i < 3; i++) {
      now += PHASE_MS;
      await nextStatus();
    }
    expect(statuses).toEqual(['PENDING', 'QUEUING', 'RUNNING', 'SUCCEEDED']);
    expect(await jobStream.next()).toBeNull();
    const outputModel = job.fineTunedModel as string;
    expect(outputModel).toContain(job.id);

    // 4. Its checkpoints, then export one; it is SUCCEEDED with its modelName once DashScope has made the model.
    const CHECKPOINTS = 'query($id: ID!) { fineTuneJob(id: $id) { checkpoints { id name status modelName modelDisplayName } } }';
    const checkpoints = (await stack.ok(CHECKPOINTS, { id: job.id })).fineTuneJob.checkpoints as Array<Record<string, any>>;
    expect(checkpoints.length).toBeGreaterThan(0);
    const checkpoint = checkpoints[0]!;
    expect(checkpoint).toMatchObject({ status: 'PENDING', modelName: null });
    callsSince();
    const { exportCheckpoint } = await stack.ok(
      'mutation($jobId: ID!, $checkpointId: ID!, $name: String!) { exportCheckpoint(jobId: $jobId, checkpointId: $checkpointId, modelName: $name) { id status } }',
      { jobId: job.id, checkpointId: checkpoint.id, name: 'capitals-v1' },
    );
    expect(exportCheckpoint).toEqual({ id: checkpoint.id, status: 'PROCESSING' });
    expect(callsSince()).toEqual({ export: 1, checkpoints: 1 });
    now += EXPORT_MS;
    const exported = ((await stack.ok(CHECKPOINTS, { id: job.id })).fineTuneJob.checkpoints as Array<Record<string, any>>).find(
      (c) => c.id === checkpoint.id,
    );
    expect(exported).toMatchObject({ status: 'SUCCEEDED', modelDisplayName: 'capitals-v1' });
    expect(exported!.modelName).toEqual(expect.any(String));

    // 5. Deploy the job's output model, twice with one key: one deployment, one create upstream.
    const DEPLOY = `mutation($input: CreateDeploymentInput!, $key: String) {
      createDeployment(input: $input, idempotencyKey: $key) { id status modelName baseModel }
    }`;
    callsSince();
    const { createDeployment: deployment } = await stack.ok(DEPLOY, { input: { modelName: outputModel, capacity: 1 }, key: 'deploy-1' });
    expect(deployment).toMatchObject({ status: 'PENDING', modelName: outputModel, baseModel: 'qwen3-8b' });
    expect((await stack.ok(DEPLOY, { input: { modelName: outputModel, capacity: 1 }, key: 'deploy-1' })).createDeployment.id).toBe(
      deployment.id,
    );
    expect(callsSince()['deployment-create']).toBe(1);

    const deploymentStream = await watch('subscription($id: ID!) { deploymentUpdated(id: $id) { status capacity readyCapacity } }', {
      id: deployment.id,
    });
    const nextDeployment = async () => {
      const payload = await deploymentStream.next();
      expect(payload?.errors).toBeUndefined();
      return payload!.data!.deploymentUpdated as Record<string, any>;
    };
    expect(await nextDeployment()).toEqual({ status: 'PENDING', capacity: 1, readyCapacity: 0 });
    now += PHASE_MS;
    expect((await nextDeployment()).status).toBe('DEPLOYING');
    now += PHASE_MS;
    expect(await nextDeployment()).toEqual({ status: 'RUNNING', capacity: 1, readyCapacity: 1 });

    // The job lists its deployment.
    const { fineTuneJob } = await stack.ok('query($id: ID!) { fineTuneJob(id: $id) { deployments { id status } } }', { id: job.id });
    expect(fineTuneJob.deployments).toEqual([{ id: deployment.id, status: 'RUNNING' }]);

    // 6. Scale: UPDATING, then RUNNING with the new capacity ready.
    callsSince();
    const { scaleDeployment } = await stack.ok('mutation($id: ID!) { scaleDeployment(id: $id, capacity: 2) { status capacity } }', {
      id: deployment.id,
    });
    expect(scaleDeployment.status).toBe('UPDATING');
    expect(callsSince()['deployment-scale']).toBe(1);
    expect((await nextDeployment()).status).toBe('UPDATING');
    now += PHASE_MS;
    expect(await nextDeployment()).toEqual({ status: 'RUNNING', capacity: 2, readyCapacity: 2 });

    // 7. Delete the deployment: DELETING, then gone, and the watch completes.
    const { deleteDeployment } = await stack.ok('mutation($id: ID!) { deleteDeployment(id: $id) { id status } }', { id: deployment.id });
    expect(deleteDeployment).toEqual({ id: deployment.id, status: 'DELETING' });
    expect((await nextDeployment()).status).toBe('DELETING');
    now += PHASE_MS;
    expect(await deploymentStream.next()).toBeNull();
    expect((await stack.ok('query($id: ID!) { deployment(id: $id) { id } }', { id: deployment.id })).deployment).toBeNull();

    // 8. Delete the training file: gone from the files API.
    callsSince();
    expect((await stack.ok('mutation($id: ID!) { deleteTrainingFile(id: $id) }', { id: file.id })).deleteTrainingFile).toBe(true);
    expect(callsSince()['file-delete']).toBe(1);
    expect((await stack.ok('query($id: ID!) { trainingFile(id: $id) { id } }', { id: file.id })).trainingFile).toBeNull();
  }, 30_000);
});
