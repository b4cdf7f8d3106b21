// The route table of the emulated API and the path matching behind it. Adding an endpoint is one handler and one line
// in ROUTES: its name then exists for stats (`byRoute`) and faults (`match.route`), and the auth, workspace, latency
// and fault layers apply to it as to every other route.
import type { IncomingMessage } from 'node:http';
import * as deployments from './handlers/deployments.js';
import * as files from './handlers/files.js';
import { openAiError } from './handlers/files.js';
import * as jobs from './handlers/jobs.js';
import { errorReply, notFound, type Reply } from './http.js';
import type { EmulatorState, Handler } from './state.js';

interface RouteSpec {
  /** the route's name in stats and fault rules */
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** `/`-separated; a `:name` segment matches one non-empty segment, handed to the handler decoded as `params.name` */
  path: string;
  handler: Handler;
}

const FINE_TUNES = '/api/v1/fine-tunes';
const DEPLOYMENTS = '/api/v1/deployments';
const COMPATIBLE_ROOT = '/compatible-mode/';
const FILES = `${COMPATIBLE_ROOT}v1/files`;

export const ROUTES = [
  { name: 'create', method: 'POST', path: FINE_TUNES, handler: jobs.create },
  { name: 'list', method: 'GET', path: FINE_TUNES, handler: jobs.list },
  { name: 'get', method: 'GET', path: `${FINE_TUNES}/:jobId`, handler: jobs.get },
  { name: 'delete', method: 'DELETE', path: `${FINE_TUNES}/:jobId`, handler: jobs.remove },
  { name: 'cancel', method: 'POST', path: `${FINE_TUNES}/:jobId/cancel`, handler: jobs.cancel },
  { name: 'logs', method: 'GET', path: `${FINE_TUNES}/:jobId/logs`, handler: jobs.logs },
  { name: 'checkpoints', method: 'GET', path: `${FINE_TUNES}/:jobId/checkpoints`, handler: jobs.checkpoints },
  { name: 'export', method: 'GET', path: `${FINE_TUNES}/:jobId/export/:checkpoint`, handler: jobs.exportCheckpoint },
  { name: 'validation-results', method: 'GET', path: `${FINE_TUNES}/:jobId/validation-results`, handler: jobs.validationResults },
  {
    name: 'validation-details',
    method: 'GET',
    path: `${FINE_TUNES}/:jobId/validation-details/:checkpoint`,
    handler: jobs.validationDetails,
  },
  { name: 'deployment-create', method: 'POST', path: DEPLOYMENTS, handler: deployments.create },
  { name: 'deployment-list', method: 'GET', path: DEPLOYMENTS, handler: deployments.list },
  { name: 'deployment-get', method: 'GET', path: `${DEPLOYMENTS}/:deployedModel`, handler: deployments.get },
  { name: 'deployment-scale', method: 'PUT', path: `${DEPLOYMENTS}/:deployedModel/scale`, handler: deployments.scale },
  { name: 'deployment-delete', method: 'DELETE', path: `${DEPLOYMENTS}/:deployedModel`, handler: deployments.remove },
  { name: 'file-upload', method: 'POST', path: FILES, handler: files.upload },
  { name: 'file-list', method: 'GET', path: FILES, handler: files.list },
  { name: 'file-get', method: 'GET', path: `${FILES}/:fileId`, handler: files.get },
  { name: 'file-delete', method: 'DELETE', path: `${FILES}/:fileId`, handler: files.remove },
] as const satisfies readonly RouteSpec[];

export type RouteName = (typeof ROUTES)[number]['name'];

export interface RouteMatch {
  /** `unknown` when no route has this method and path */
  route: RouteName | 'unknown';
  /**
   * The path lies under an API root (a route's path up to its first parameter). Only such requests are authenticated,
   * delayed and faulted; anything else is a plain NotFound, as from a front proxy.
   */
  underApi: boolean;
  /** decoded `:name` segments; for an unknown route, those of the route whose path it starts like (stats, faults) */
  params: Record<string, string>;
  /** the same segments as sent, for the stats when one is not a valid escape */
  rawParams: Record<string, string>;
  /** a `:name` segment is not a valid percent-escape: the route answers NotFound */
  badEscape: boolean;
  handler?: Handler;
}

interface CompiledRoute {
  spec: (typeof ROUTES)[number];
  segments: string[];
}

const COMPILED: CompiledRoute[] = ROUTES.map((spec) => ({ spec, segments: spec.path.split('/') }));

const API_ROOTS = [
  ...new Set(
    COMPILED.map(({ segments }) => {
      const firstParam = segments.findIndex((segment) => segment.startsWith(':'));
      return segments.slice(0, firstParam === -1 ? undefined : firstParam).join('/');
    }),
  ),
];

const isParam = (segment: string) => segment.startsWith(':');

/**
 * The raw `:name` segments when `path` fits `route`. `partial` compares only the segments both have and lets a
 * parameter be empty: it names the job of a request to an unknown sub-path or with the wrong method.
 */
function capture(route: CompiledRoute, path: string[], partial: boolean): Record<string, string> | undefined {
  if (!partial && path.length !== route.segments.length) return undefined;
  const raw: Record<string, string> = {};
  const length = Math.min(path.length, route.segments.length);
  for (let i = 0; i < length; i++) {
    const pattern = route.segments[i]!;
    const segment = path[i]!;
    if (isParam(pattern)) {
      if (segment === '' && !partial) return undefined;
      raw[pattern.slice(1)] = segment;
    } else if (pattern !== segment) return undefined;
  }
  return raw;
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function decodeAll(raw: Record<string, string>): { params: Record<string, string>; badEscape: boolean } {
  const params: Record<string, string> = {};
  let badEscape = false;
  for (const [name, value] of Object.entries(raw)) {
    const decoded = safeDecode(value);
    if (decoded === undefined) badEscape = true;
    else params[name] = decoded;
  }
  return { params, badEscape };
}

export function matchRoute(method: string, path: string): RouteMatch {
  const underApi = API_ROOTS.some((root) => path === root || path.startsWith(`${root}/`));
  // Split before decoding so an encoded "/" stays inside its segment.
  const segments = path.split('/');
  for (const route of COMPILED) {
    if (route.spec.method !== method) continue;
    const raw = capture(route, segments, false);
    if (raw) return { route: route.spec.name, underApi, rawParams: raw, ...decodeAll(raw), handler: route.spec.handler };
  }
  // The route sharing the most parameters with the path names them, so that a fault on a job id also catches its odd paths.
  let best: Record<string, string> = {};
  for (const route of COMPILED) {
    const raw = capture(route, segments, true);
    if (raw && Object.keys(raw).length > Object.keys(best).length) best = raw;
  }
  return { route: 'unknown', underApi, rawParams: best, ...decodeAll(best), badEscape: false };
}

/** The checks every API route shares (key, workspace, path escapes), then the route's handler. */
export async function dispatch(
  match: RouteMatch,
  request: { req: IncomingMessage; apiKey: string | undefined; query: URLSearchParams; body: Buffer },
  state: EmulatorState,
): Promise<Reply> {
  const account = request.apiKey === undefined ? undefined : state.accounts.get(request.apiKey);
  if (!account) {
    // The OpenAI-compatible routes answer in OpenAI's error shape, as DashScope's compatible mode does [INF: wording].
    return request.req.url?.startsWith(COMPATIBLE_ROOT)
      ? openAiError(401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key')
      : errorReply(401, 'InvalidApiKey', 'Invalid API-key provided.');
  }
  const workspace = request.req.headers['x-dashscope-workspace'];
  if (workspace !== undefined && workspace !== account.account.workspaceId) {
    return errorReply(404, 'WorkSpaceNotFound', 'WorkSpace can not be found.');
  }
  if (!match.handler || match.badEscape) return notFound();
  return await match.handler({ account, params: match.params, query: request.query, body: request.body, req: request.req }, state);
}
