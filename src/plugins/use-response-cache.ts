import { createHash } from 'node:crypto';
import { useResponseCache as useEnvelopResponseCache } from '@envelop/response-cache';
import {
  getOperationAST,
  isObjectType,
  OperationTypeNode,
  print,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { isCacheableOperation, JOB_TYPE } from './response-cache-policy.js';
import type { ResponseCacheStore } from './response-cache-store.js';

/** A kept answer: the browser keeps it for its user only, and asks (`If-None-Match`) before each reuse. */
export const CACHEABLE_ANSWER = 'private, no-cache';
/** Any other answer: it may change at any moment (a job still going) or be a list; nothing may keep it. */
export const UNCACHEABLE_ANSWER = 'no-store';

const STREAMED = /text\/event-stream|multipart\/mixed/i;

export interface ResponseCacheEvent {
  /** The operation's name in its document; `null` for an anonymous one. Not a metric label as is (clients choose it). */
  operationName: string | null;
}

export interface ResponseCacheOptions {
  store: ResponseCacheStore;
  /** How long a kept answer is served (a finished job deleted outside the gateway is seen after at most this). */
  ttlMs: number;
  /** An answer served from the cache, without execution. */
  onHit?: (event: ResponseCacheEvent) => void;
  /** A cacheable operation that was executed (whether its answer could then be kept or not). */
  onMiss?: (event: ResponseCacheEvent) => void;
  /**
   * With a store shared by replicas: the generation a job record was read under (JobReader.generationOf). An answer is
   * then kept only if every job in it has one, and the store keeps it only while each is still current.
   */
  generationOf?: (job: object) => string | undefined;
}

/** What one cacheable operation saw while it executed. */
interface Watch {
  /** The cache's generation when the operation started: an invalidation since, and its answer may be stale. */
  generation: number;
  jobs: number;
  allTerminal: boolean;
  /** The ids of the jobs it completed (what its answer is indexed by, whatever the answer shows of them), each with
   * the generation it was read under (with `generationOf`). */
  ids: Map<string, string | undefined>;
}

/**
 * The response cache: answers to queries that read only finished jobs, and only fields that cannot change once a job
 * is finished (response-cache-policy.ts), kept per credential (API key and workspace) and served without execution,
 * on every transport (HTTP GET and POST, SSE, graphql-ws: all run through the same envelop `execute`). The engine is
 * @envelop/response-cache; graphql-yoga's wrapper of it is not used, because its `If-None-Match` check answers 304 to
 * any request naming any kept answer (no credential, document or method check), and its cache key only exists on
 * yoga's HTTP path (graphql-ws operations would fail).
 *
 * An answer is kept only when the document passes the policy, the caller has a credential, the answer has no error,
 * holds at least one job, every job it holds is terminal (checked on each `FineTuneJob` the execution completes), and
 * no job was invalidated while it executed. A GET of a kept answer carries a weak `ETag` (a hash of the data) and
 * `Cache-Control: private, no-cache`, and answers 304 to a matching `If-None-Match`; every other answer carries
 * `Cache-Control: no-store`.
 */
export class ResponseCache {
  readonly store: ResponseCacheStore;
  private generation = 0;
  private readonly watches = new WeakMap<object, Watch>();
  private readonly scopes = new WeakMap<object, string | null>();
  /** Answers the store handed back: an execution that returns one of them was served from the cache. */
  private readonly served = new WeakSet<object>();
  /**
   * Answers that met every condition while executing, with the ids of their jobs and the generations they were read
   * under; `shouldCacheResult` keeps only these.
   */
  private readonly approved = new WeakMap<object, ReadonlyMap<string, string | undefined>>();
  /** Requests whose answer may not be kept by anyone. */
  private readonly uncacheable = new WeakSet<Request>();
  /**
   * Invalidations not finished yet. A shared store (Redis) invalidates asynchronously: a mutation answers only once
   * they are done (each bounded by the store's timeout), so that a read sent to any replica after the answer cannot
   * be served the answer the mutation made stale.
   */
  private readonly invalidations = new Set<Promise<void>>();

  constructor(private readonly options: ResponseCacheOptions) {
    const { store } = options;
    this.store = {
      // Indexed by every job the execution completed too, not only by those envelop finds in the answer (by their
      // `__typename` and `id` there): `invalidateJob` must find every kept answer that holds the job.
      set: (key, answer, entities, ttl) => {
        const approved = this.approved.get(answer) ?? new Map<string, string | undefined>();
        const jobs = [...approved.keys()].map((id) => ({ typename: JOB_TYPE, id }));
        const generations = options.generationOf ? new Map([...approved].map(([id, token]) => [id, token ?? ''])) : undefined;
        return store.set(key, answer, [...entities, ...jobs], ttl, generations);
      },
      get: async (key) => {
        const answer = await store.get(key);
        if (answer) this.served.add(answer);
        return answer;
      },
      invalidate: (entities) => store.invalidate(entities),
    };
  }

  /**
   * After a write to a job (cancel, delete, export, create) or a live update: every kept answer holding the job goes,
   * for every credential (a job id names one job; dropping another tenant's copy only costs it a miss), and answers
   * being computed now are not kept.
   */
  invalidateJob(id: string): void {
    this.generation++;
    const invalidation = Promise.resolve(this.store.invalidate([{ typename: JOB_TYPE, id }])).catch(() => {});
    this.invalidations.add(invalidation);
    void invalidation.finally(() => this.invalidations.delete(invalidation));
  }

  /** Answers kept now, when the store can tell (the in-memory one can), for `/health` and metrics. */
  get size(): number | undefined {
    const { size } = this.options.store as { size?: unknown };
    return typeof size === 'number' ? size : undefined;
  }

  /** The plugin; `scopeOf` names the request's credential (a hash), `null` without a valid one: never cached. */
  plugin(scopeOf: (headers: Headers) => string | null): Plugin {
    const scopeFor = (context: object): string | null => {
      let scope = this.scopes.get(context);
      if (scope === undefined) {
        const request = (context as { request?: Request }).request;
        scope = request ? scopeOf(request.headers) : null;
        this.scopes.set(context, scope);
      }
      return scope;
    };
    const event = (operationName: string | null | undefined): ResponseCacheEvent => ({ operationName: operationName ?? null });

    return {
      onSchemaChange: (payload) => this.watchJobs(payload.schema as GraphQLSchema),
      onPluginInit: ({ addPlugin }) => {
        // After this plugin's own onExecute, so that `enabled` knows the verdict, and its onExecuteDone runs after
        // this plugin's has approved the answer or not.
        addPlugin(
          useEnvelopResponseCache<Record<string, unknown>>({
            cache: this.store,
            ttl: this.options.ttlMs,
            session: (context) => scopeFor(context),
            enabled: (context) => this.watches.has(context),
            // Writes invalidate through the context (`invalidateJob`), which knows which job they touched.
            invalidateViaMutation: false,
            includeExtensionMetadata: false,
            getDocumentString: (args) => (args.contextValue as { params?: { query?: string } }).params?.query || print(args.document),
            buildResponseCacheKey: ({ documentString, operationName, variableValues, sessionId }) =>
              createHash('sha256')
                .update(JSON.stringify([sessionId, documentString, operationName ?? '', stableJson(variableValues ?? {})]))
                .digest('base64url'),
            shouldCacheResult: ({ result }) => {
              if (!this.approved.has(result)) return false;
              // Stored with the answer: a hit carries the same headers. Over HTTP yoga sends them as headers and
              // leaves them out of the body; graphql-ws drops them (src/gateway/websocket.ts).
              const etag = `W/"${createHash('sha256').update(JSON.stringify(result.data)).digest('base64url')}"`;
              result.extensions = { ...result.extensions, http: { headers: { ETag: etag, 'Cache-Control': CACHEABLE_ANSWER } } };
              return true;
            },
          }) as Plugin,
        );
      },
      onExecute: (payload) => {
        const { schema, document, operationName, contextValue } = payload.args as ExecutionArgs;
        const context = contextValue as object;
        if (getOperationAST(document, operationName)?.operation === OperationTypeNode.MUTATION)
          return { onExecuteDone: () => Promise.all(this.invalidations).then(() => undefined) };
        if (!scopeFor(context) || !isCacheableOperation(schema, document, operationName)) return;
        const watch: Watch = { generation: this.generation, jobs: 0, allTerminal: true, ids: new Map() };
        const named = event(getOperationAST(document, operationName)?.name?.value);
        this.watches.set(context, watch);
        return {
          onExecuteDone: ({ result }) => {
            if (isAsyncIterable(result)) return;
            if (this.served.has(result)) return this.options.onHit?.(named);
            this.options.onMiss?.(named);
            const unchanged = watch.generation === this.generation;
            // Shared by replicas: a job read without a known generation (Redis could not say) may be stale elsewhere.
            const known = !this.options.generationOf || [...watch.ids.values()].every((token) => token !== undefined);
            if (unchanged && known && watch.jobs > 0 && watch.allTerminal && !result.errors?.length) this.approved.set(result, watch.ids);
          },
        };
      },
      onResultProcess: (payload) => {
        const { request, result } = payload;
        const etag = isAsyncIterable(result) || Array.isArray(result) ? undefined : etagOf(result);
        if (!etag) {
          this.uncacheable.add(request);
          return;
        }
        // A plain GET only: a stream (SSE, multipart) answers in its own framing, never with a bare 304.
        const streamed = STREAMED.test(request.headers.get('accept') ?? '');
        if (request.method === 'GET' && !streamed && matchesEtag(request.headers.get('if-none-match'), etag)) {
          payload.setResultProcessor(
            (_result, fetchAPI) => new fetchAPI.Response(null, { status: 304, headers: { ETag: etag, 'Cache-Control': CACHEABLE_ANSWER } }),
            'application/json',
          );
        }
      },
      onResponse: ({ request, response }) => {
        if (this.uncacheable.has(request) && !response.headers.has('cache-control'))
          response.headers.set('cache-control', UNCACHEABLE_ANSWER);
      },
    };
  }

  /**
   * Every `FineTuneJob` an execution completes passes through its type's `isTypeOf` (graphql-js asks it for each
   * object of the type), whichever field or fragment selected it: the one place that sees every job of an answer,
   * including jobs whose `status` was not selected.
   */
  private watchJobs(schema: GraphQLSchema): void {
    const type = schema.getType(JOB_TYPE);
    if (!isObjectType(type) || (type.isTypeOf as { watchedBy?: unknown } | undefined)?.watchedBy === this) return;
    const previous = type.isTypeOf;
    const isTypeOf = (value: unknown, context: unknown, info: Parameters<NonNullable<typeof previous>>[2]) => {
      const watch = typeof context === 'object' && context !== null ? this.watches.get(context) : undefined;
      if (watch) {
        watch.jobs++;
        const job = value as { isTerminal?: unknown; id?: unknown } | null;
        if (job?.isTerminal !== true) watch.allTerminal = false;
        if (typeof job?.id === 'string') {
          const token = job && this.options.generationOf?.(job);
          // The same job twice in one answer: the older generation (a mismatch refuses the answer either way).
          if (!watch.ids.has(job.id) || token === undefined) watch.ids.set(job.id, token);
        }
      }
      return previous ? previous(value, context, info) : true;
    };
    type.isTypeOf = Object.assign(isTypeOf, { watchedBy: this });
  }
}

function etagOf(result: ExecutionResult): string | undefined {
  const http = (result.extensions as { http?: { headers?: Record<string, string> } } | undefined)?.http;
  return http?.headers?.ETag;
}

/** `If-None-Match`: `*` or a list of entity tags, compared weakly (RFC 9110 §13.1.2). */
export function matchesEtag(header: string | null, etag: string): boolean {
  if (!header) return false;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim() === '*' || opaque(tag) === opaque(etag));
}

/** JSON with object keys sorted, so that `{a, b}` and `{b, a}` variables share a cache key. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, nested: unknown) =>
    nested && typeof nested === 'object' && !Array.isArray(nested)
      ? Object.fromEntries(Object.entries(nested as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : nested,
  );
}
