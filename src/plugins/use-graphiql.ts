import { createHash } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import { compress, negotiateEncoding, type Encoding } from './use-response-compression.js';

/** Where GraphiQL's files are served; their names carry a hash of their content, so they never go stale. */
export const GRAPHIQL_ASSETS_PATH = '/graphiql-assets/';

interface Asset {
  type: string;
  body: Buffer;
  /** Compressed once per encoding, on first request, and kept. */
  encoded: Partial<Record<Encoding, Promise<Buffer>>>;
}

interface Bundle {
  /** Asset URL by role: js, css, favicon, and the three Monaco workers by label. */
  urls: Record<'js' | 'css' | 'favicon' | 'editorWorkerService' | 'json' | 'graphql', string>;
  byPath: Map<string, Asset>;
}

let bundle: Promise<Bundle> | undefined;

/**
 * GraphiQL's bundle (@graphql-yoga/render-graphiql) as files. Yoga inlines all of it, 9 MB, into the HTML page of
 * every visit; here the page is a few hundred bytes and its script, style, workers and icon are separate,
 * compressed, immutable files that a browser loads once. Imported on first use: an API-only gateway never pays for
 * the bundle's memory.
 */
function loadBundle(): Promise<Bundle> {
  bundle ??= import('@graphql-yoga/render-graphiql/graphiql').then((source) => {
    const byPath = new Map<string, Asset>();
    const add = (name: string, extension: string, type: string, body: Buffer) => {
      const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
      const path = `${GRAPHIQL_ASSETS_PATH}${name}.${hash}.${extension}`;
      byPath.set(path, { type, body, encoded: {} });
      return path;
    };
    const script = (name: string, text: string) => add(name, 'js', 'text/javascript; charset=utf-8', Buffer.from(text));
    const favicon = /^data:([^;]+);base64,(.*)$/.exec(source.favicon);
    return {
      byPath,
      urls: {
        js: script('graphiql', source.js),
        css: add('graphiql', 'css', 'text/css; charset=utf-8', Buffer.from(source.css)),
        favicon: favicon ? add('favicon', 'ico', favicon[1]!, Buffer.from(favicon[2]!, 'base64')) : source.favicon,
        editorWorkerService: script('editor.worker', source.editorWorkerService),
        json: script('json.worker', source.jsonWorker),
        graphql: script('graphql.worker', source.graphqlWorker),
      },
    };
  });
  return bundle;
}

/** What GraphiQL's editor holds on first open against a real DashScope: a query that works on any account. */
const GRAPHIQL_DEFAULT_QUERY = `# finetune-gateway: GraphQL over DashScope fine-tuning jobs.
# Press the play button to run. The book icon (left) opens the docs.
query Dashboard {
  fineTuneJobs(page: 1, pageSize: 10) {
    total
    hasNextPage
    items {
      id
      status
      model
      createdAt
      durationSeconds
      costEstimate { amount currency isFinal }
    }
  }
}
`;

/** A GraphiQL tab: its editor's operation(s) and variables. */
interface Tab {
  query: string;
  variables: string;
}

/** The seeded ids the demo tabs name (src/emulator/seed.ts); fixed, so that every tab runs as it stands. */
const DEMO = {
  file: 'file-ft-demo',
  /** the Wan video job: SUCCEEDED, checkpoint-80 not exported yet */
  exportJob: 'ft-202611111122-a7c3',
  /** the qwen3-32b LoRA job: SUCCEEDED, its output model not deployed yet */
  deployJob: 'ft-202609181130-7e3d',
  deployModel: 'qwen3-32b-legal-v2-ft-202609181130-7e3d',
} as const;

const tab = (query: string, variables: Record<string, unknown>): Tab => ({ query, variables: JSON.stringify(variables, null, 2) });

/**
 * Demo mode's tabs: the workflow upload → create → watch → export → deploy, each tab runnable as it stands against
 * the embedded emulator (seeded ids, prefilled variables). A tab with two operations asks which one to run.
 */
const DEMO_TABS: Tab[] = [
  tab(
    `# finetune-gateway in demo mode: the fine-tuning workflow, one tab per step. Press the play button to run.
# The book icon (left) opens the docs.
#
# 1. Upload a training file. GraphiQL cannot send files; from a shell (JSONL or ZIP, multipart request spec):
#   curl http://localhost:4000/graphql -H 'graphql-preflight: 1' \\
#     -F operations='{"query":"mutation($file: File!) { uploadTrainingFile(file: $file) { id filename bytes status } }","variables":{"file":null}}' \\
#     -F map='{"0":["variables.file"]}' -F 0=@train.jsonl
# Then it is listed here (the demo account has files already: ${DEMO.file} is used by the next tab).
query TrainingFiles($pageSize: Int) {
  trainingFiles(page: 1, pageSize: $pageSize) {
    total
    hasNextPage
    items { id filename bytes status createdAt }
  }
}
`,
    { pageSize: 5 },
  ),
  tab(
    `# 2. Create a job from a training file. Text models need nEpochs, batchSize and maxLength.
# The idempotencyKey makes a second run answer the same job: change the key to start another one.
# Copy the job's id into the next tab.
mutation CreateJob($input: CreateFineTuneJobInput!, $idempotencyKey: String) {
  createFineTuneJob(input: $input, idempotencyKey: $idempotencyKey) {
    id
    status
    model
    trainingFiles { id filename }
    createdAt
  }
}
`,
    {
      input: {
        model: 'qwen3-8b',
        trainingDatasets: [{ fileId: DEMO.file }],
        hyperParameters: { nEpochs: 2, batchSize: 8, maxLength: 2048, saveStrategy: 'epoch' },
      },
      idempotencyKey: 'graphiql-demo-1',
    },
  ),
  tab(
    `# 3. Watch a job: its state at once, then every change; the subscription completes when the job is finished.
# Paste the id tab 2 answered into the variables: in demo mode a new job is PENDING for 5 s, QUEUING for 10 s,
# RUNNING for 45 s, then SUCCEEDED, so the watch ends after about a minute. As it stands, it watches a seeded
# finished job: one answer, then complete.
subscription WatchJob($id: ID!) {
  fineTuneJobUpdated(id: $id) {
    id
    status
    durationSeconds
    fineTunedModel
  }
}
`,
    { id: DEMO.deployJob },
  ),
  tab(
    `# 4. Export a checkpoint of a finished job as a deployable model. The play button runs the operation the cursor
# is in: run Checkpoints, then ExportCheckpoint (PROCESSING), then Checkpoints again: SUCCEEDED with its modelName
# 3 s later. Model names are unique: a second export of the same checkpoint or name is refused (change both to
# export another, e.g. checkpoint-160).
query Checkpoints($jobId: ID!) {
  fineTuneJob(id: $jobId) {
    id
    status
    checkpoints { id name status modelName modelDisplayName }
  }
}

mutation ExportCheckpoint($jobId: ID!, $checkpointId: ID!, $modelName: String!) {
  exportCheckpoint(jobId: $jobId, checkpointId: $checkpointId, modelName: $modelName) {
    id
    name
    status
  }
}
`,
    { jobId: DEMO.exportJob, checkpointId: 'checkpoint-80', modelName: 'paper-boat-80' },
  ),
  tab(
    `# 5. Deploy a finished job's output model (its fineTunedModel), then watch the deployment (cursor in
# WatchDeployment, play): PENDING 5 s, DEPLOYING 10 s, then RUNNING in demo mode. A deployment has no final state
# (it can be scaled), so the subscription stays open: press stop. JobDeployments then lists it on its job. The
# idempotencyKey makes a second Deploy answer the same deployment.
mutation Deploy($input: CreateDeploymentInput!, $idempotencyKey: String) {
  createDeployment(input: $input, idempotencyKey: $idempotencyKey) {
    id
    status
    modelName
    baseModel
  }
}

subscription WatchDeployment($id: ID!) {
  deploymentUpdated(id: $id) {
    id
    status
    capacity
    readyCapacity
  }
}

query JobDeployments($jobId: ID!) {
  fineTuneJob(id: $jobId) {
    fineTunedModel
    deployments { id status capacity }
  }
}
`,
    {
      input: { modelName: DEMO.deployModel, capacity: 1 },
      idempotencyKey: 'graphiql-demo-deploy-1',
      id: DEMO.deployModel,
      jobId: DEMO.deployJob,
    },
  ),
];

/** JSON inside a <script>: `<` escaped so that no string in it can close the script element. */
const inlineJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');
const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** GraphiQL's page, as yoga's renderGraphiQL builds it, with the files referenced instead of inlined. */
export async function renderGraphiQLPage(options: Record<string, unknown> & { title?: string }): Promise<string> {
  const { urls } = await loadBundle();
  const workers = { editorWorkerService: urls.editorWorkerService, json: urls.json, graphql: urls.graphql };
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${escapeHtml(options.title ?? 'GraphiQL')}</title>
    <link rel="icon" href="${urls.favicon}" />
    <link rel="stylesheet" href="${urls.css}" />
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>You need to enable JavaScript to run this app.</noscript>
    <div id="root"></div>
    <script>
      const workers = ${inlineJson(workers)};
      self['MonacoEnvironment'] = { globalAPI: false, getWorkerUrl: (moduleId, label) => workers[label] };
    </script>
    <script src="${urls.js}"></script>
    <script>
      const options = ${inlineJson(options)};
      // A link with ?query= opens that operation: GraphiQL shows the default tabs instead when it has them.
      if (new URL(location.href).searchParams.has('query')) delete options.defaultTabs;
      YogaGraphiQL.renderYogaGraphiQL(window.document.querySelector('#root'), options);
    </script>
  </body>
</html>
`;
}

/** Serves GraphiQL's files: compressed when the client accepts it, cacheable for a year (their URLs change with them). */
export function useGraphiQLAssets(): Plugin {
  return {
    onRequest(payload) {
      const { request, url, fetchAPI } = payload;
      const endResponse = (response: Response) => payload.endResponse(response);
      if (!url.pathname.startsWith(GRAPHIQL_ASSETS_PATH)) return;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return endResponse(new fetchAPI.Response(null, { status: 405, headers: { allow: 'GET, HEAD' } }));
      }
      return loadBundle().then(async ({ byPath }) => {
        const asset = byPath.get(url.pathname);
        if (!asset) return endResponse(new fetchAPI.Response('Not found', { status: 404, headers: { 'content-type': 'text/plain' } }));
        const encoding = negotiateEncoding(request.headers.get('accept-encoding'));
        const body = encoding ? await (asset.encoded[encoding] ??= compress(asset.body, encoding)) : asset.body;
        const headers: Record<string, string> = {
          'content-type': asset.type,
          'content-length': String(body.byteLength),
          'cache-control': 'public, max-age=31536000, immutable',
          vary: 'Accept-Encoding',
        };
        if (encoding) headers['content-encoding'] = encoding;
        endResponse(new fetchAPI.Response(request.method === 'HEAD' ? null : new Uint8Array(body), { status: 200, headers }));
      });
    },
  };
}

/**
 * Yoga's `graphiql` option: the gateway's title and first operation(s), or off. In demo mode the tabs walk the
 * workflow on the emulator's seeded data; against a real DashScope those ids mean nothing, so one dashboard query.
 */
export function graphiqlOptions(enabled: boolean, mode: 'demo' | 'remote') {
  if (!enabled) return false;
  return mode === 'demo'
    ? { title: 'finetune-gateway', defaultTabs: DEMO_TABS }
    : { title: 'finetune-gateway', defaultQuery: GRAPHIQL_DEFAULT_QUERY };
}
