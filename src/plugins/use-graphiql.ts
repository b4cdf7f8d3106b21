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

/** What GraphiQL's editor holds on first open: a query that works against the demo jobs, and where to go next. */
const GRAPHIQL_DEFAULT_QUERY = `# finetune-gateway: GraphQL over DashScope fine-tuning jobs.
# Press the play button to run. The book icon (left) opens the docs.
# Next, try: fineTuneJob(id: "ft-202605271743-dd2a") { checkpoints { name status } }
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
      YogaGraphiQL.renderYogaGraphiQL(window.document.querySelector('#root'), ${inlineJson(options)});
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

/** Yoga's `graphiql` option: the gateway's title and default query, or off. */
export function graphiqlOptions(enabled: boolean) {
  return enabled && { title: 'finetune-gateway', defaultQuery: GRAPHIQL_DEFAULT_QUERY };
}
