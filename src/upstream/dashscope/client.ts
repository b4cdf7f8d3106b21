import { setTimeout as pause } from 'node:timers/promises';
import { Pool } from 'undici';
import type { z } from 'zod';
import type { UpstreamDataset } from './create-job.js';
import { credentialScope } from '../credential-scope.js';
import type { UpstreamRateLimit } from '../rate-limit.js';
import { UpstreamError, parseRetryAfter, type UpstreamFailure } from './errors.js';
import type { UpstreamSpan, UpstreamTracer } from '../../observability/tracing.js';
import { invalidIdReason } from './ids.js';
import { endpointTemplate } from './endpoint.js';
import { Resilience, type ResilienceOptions } from './resilience.js';
import { UploadBody } from './upload-body.js';
import { networkFailure, observed } from './attempt.js';
import {
  DeploymentListModel,
  DeploymentModel,
  FileDeletedModel,
  FileListModel,
  FileModel,
  OpenAiErrorModel,
  toTrainingFileRecord,
  type TrainingFileListRecord,
  type TrainingFileRecord,
  toDeploymentRecord,
  type DeploymentPageRecord,
  type DeploymentRecord,
  CheckpointListModel,
  ErrorEnvelopeModel,
  JobListModel,
  JobModel,
  LogsModel,
  OperationStatusModel,
  SuccessEnvelopeModel,
  toCheckpointRecord,
  toJobRecord,
  ExportModel,
  ValidationDetailPageModel,
  ValidationResultListModel,
  toValidationDetailPage,
  toValidationResults,
  type ValidationDetailPageRecord,
  type ValidationResultRecord,
  type CheckpointRecord,
  type FineTuneJobRecord,
  type JobLogsRecord,
  type JobPageRecord,
} from './models.js';

/** Who is calling: the key (the gateway's own, or the caller's in forward mode) and an optional workspace. */
export interface Credential {
  apiKey: string;
  workspace?: string | undefined;
}

export interface DashScopeClientOptions {
  /** Origin plus optional path prefix, e.g. `https://dashscope-intl.aliyuncs.com`. */
  baseUrl: string;
  /** The upstream's time zone, for its naive timestamps. */
  timeZoneOffsetMinutes: number;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Sockets in the pool. */
  connections: number;
  /**
   * Sockets of a pool of their own for uploads (a slow or stalled caller's upload never holds one of the others);
   * callers bound the uploads in flight to it (src/modules/training-file/upload-slots.ts). Default 16.
   */
  uploadConnections?: number;
  userAgent?: string;
  /** Retries, retry budget, circuit breaker and bulkhead (src/upstream/dashscope/resilience.ts); defaults there. */
  resilience?: Partial<ResilienceOptions>;
  /** A token bucket per credential on the requests sent (src/upstream/rate-limit.ts); none when unset. */
  rateLimiter?: UpstreamRateLimit | undefined;
  /** A span per attempt (src/observability/tracing.ts), when tracing is on. */
  tracer?: UpstreamTracer | undefined;
  /** Hears every request sent (each attempt), when it ends: for metrics. */
  onRequest?: (event: UpstreamRequestEvent) => void;
}

/** One upstream request that was sent, as metrics count it. */
export interface UpstreamRequestEvent {
  /** The route template, e.g. `GET /fine-tunes/{id}` (src/upstream/dashscope/endpoint.ts). */
  endpoint: string;
  /** The HTTP status, or what ended the request without one: `timeout`, `unavailable`, `aborted`. */
  status: string;
  /** DashScope's error code, or the failure's kind (`bad-response`) when it gave none. */
  code: string | undefined;
  durationMs: number;
}

export interface ListJobsParams {
  page: number;
  pageSize: number;
  model?: string | null | undefined;
}

export interface CreateDeploymentBody {
  model_name: string;
  capacity: number;
  plan?: string;
  suffix?: string;
}

export interface CreateJobBody {
  model: string;
  training_file_ids?: string[];
  validation_file_ids?: string[];
  training_datasets?: UpstreamDataset[];
  validation_datasets?: UpstreamDataset[];
  training_type?: string;
  hyper_parameters?: Record<string, unknown>;
  job_name?: string;
  model_name?: string;
  finetuned_output_suffix?: string;
  rollout?: Record<string, unknown>;
  rewards?: unknown[] | Record<string, unknown>;
  resource_config?: Record<string, unknown>;
}

interface Call {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path below `/api/v1/fine-tunes` (or below `/api/v1/<root>`), already encoded. */
  path: string;
  /** Another collection than fine-tunes under `/api/v1`, e.g. `deployments`. */
  root?: string;
  query?: Record<string, string | number | undefined | null>;
  body?: unknown;
  subject: string;
  action: UpstreamFailure['action'];
  signal?: AbortSignal | undefined;
  /** A GET that is a write (the checkpoint export): never retried. */
  write?: boolean;
  /**
   * Under `/compatible-mode/v1/<root>` instead of `/api/v1`: OpenAI's shapes, the success body bare (no `output`
   * envelope), errors as `{error: {message, type, code}}`.
   */
  compatible?: boolean;
  /** A streamed body instead of `body` (an upload): sent as it is read, never held, on the uploads' own pool. */
  upload?: UploadBody;
}

/**
 * The one client of the DashScope fine-tunes API: one method per endpoint, one undici pool for the origin, explicit
 * timeouts, every response validated by a zod model. Nothing outside this folder knows a DashScope URL or field.
 */
export class DashScopeClient {
  private readonly pool: Pool;
  private readonly uploadPool: Pool;
  private readonly basePath: string;
  private readonly apiPath: string;
  private readonly compatiblePath: string;
  /** One per client, so one per upstream origin: the breaker and bulkhead guard that origin. */
  readonly resilience: Resilience;

  constructor(private readonly options: DashScopeClientOptions) {
    this.resilience = new Resilience(options.resilience);
    const url = new URL(options.baseUrl);
    const prefix = url.pathname.replace(/\/+$/, '');
    this.apiPath = `${prefix}/api/v1`;
    this.compatiblePath = `${prefix}/compatible-mode/v1`;
    this.basePath = `${this.apiPath}/fine-tunes`;
    const pool = (connections: number) =>
      new Pool(url.origin, {
        connections,
        connectTimeout: options.connectTimeoutMs,
        headersTimeout: options.headersTimeoutMs,
        bodyTimeout: options.bodyTimeoutMs,
        keepAliveTimeout: 10_000,
      });
    this.pool = pool(options.connections);
    this.uploadPool = pool(options.uploadConnections ?? 16);
  }

  /**
   * What a credential's shares of the gateway's pools are counted by (a scope, never the key): its own once DashScope
   * has answered it, else the one share every key DashScope has not answered yet (made-up keys among them) holds
   * together (src/upstream/dashscope/resilience.ts).
   */
  shareOf(credential: Credential): string {
    return this.resilience.shareOf(credentialScope({ apiKey: credential.apiKey }));
  }

  async getJob(credential: Credential, jobId: string, signal?: AbortSignal): Promise<FineTuneJobRecord> {
    const subject = jobSubject(jobId);
    return this.call(credential, { method: 'GET', path: this.jobPath(jobId, subject), subject, action: 'reading', signal }, (output) => {
      const job = this.job(output, subject, 'reading');
      // Another job than the one asked for must not be shown (or cached) as this one. Not quoted: it came from upstream.
      if (job.id !== jobId)
        throw new UpstreamError({ kind: 'bad-response', subject, action: 'reading', detail: 'job_id: another job than asked for' });
      return job;
    });
  }

  async listJobs(credential: Credential, params: ListJobsParams, signal?: AbortSignal): Promise<JobPageRecord> {
    const subject = 'the list of fine-tune jobs';
    const list = await this.call(
      credential,
      {
        method: 'GET',
        path: '',
        query: { page_no: params.page, page_size: params.pageSize, model: params.model },
        subject,
        action: 'reading',
        signal,
      },
      (output) => parse(JobListModel, output, subject, 'reading'),
    );
    // A malformed element costs that element, not the page.
    const jobs: FineTuneJobRecord[] = [];
    for (const element of list.jobs) {
      const job = JobModel.safeParse(element);
      if (job.success) jobs.push(toJobRecord(job.data, this.options.timeZoneOffsetMinutes));
    }
    return { total: list.total, jobs, invalidJobs: list.jobs.length - jobs.length };
  }

  async getLogs(
    credential: Credential,
    jobId: string,
    window: { offset: number; limit: number },
    signal?: AbortSignal,
  ): Promise<JobLogsRecord> {
    const subject = `the logs of ${jobSubject(jobId)}`;
    const logs = await this.call(
      credential,
      {
        method: 'GET',
        path: `${this.jobPath(jobId, subject)}/logs`,
        query: { offset: window.offset, line: window.limit },
        subject,
        action: 'reading',
        signal,
      },
      (output) => parse(LogsModel, output, subject, 'reading'),
    );
    return { total: logs.total, lines: logs.logs };
  }

  async listCheckpoints(credential: Credential, jobId: string, signal?: AbortSignal): Promise<CheckpointRecord[]> {
    const subject = `the checkpoints of ${jobSubject(jobId)}`;
    const checkpoints = await this.call(
      credential,
      { method: 'GET', path: `${this.jobPath(jobId, subject)}/checkpoints`, subject, action: 'reading', signal },
      (output) => parse(CheckpointListModel, output, subject, 'reading'),
    );
    return checkpoints.map((c) => toCheckpointRecord(c, jobId, this.options.timeZoneOffsetMinutes));
  }

  async createJob(credential: Credential, body: CreateJobBody, signal?: AbortSignal): Promise<FineTuneJobRecord> {
    // JSON-quoted: the model is the caller's text, and the subject reaches log lines, where a CR/LF must stay escaped.
    const subject = `a fine-tune job of model ${JSON.stringify(body.model)}`;
    return this.call(credential, { method: 'POST', path: '', body, subject, action: 'creating', signal }, (output) =>
      this.job(output, subject, 'creating'),
    );
  }

  async cancelJob(credential: Credential, jobId: string, signal?: AbortSignal): Promise<void> {
    const subject = jobSubject(jobId);
    await this.call(
      credential,
      { method: 'POST', path: `${this.jobPath(jobId, subject)}/cancel`, subject, action: 'canceling', signal },
      (output) => parse(OperationStatusModel, output, subject, 'canceling'),
    );
  }

  async deleteJob(credential: Credential, jobId: string, signal?: AbortSignal): Promise<void> {
    const subject = jobSubject(jobId);
    await this.call(credential, { method: 'DELETE', path: this.jobPath(jobId, subject), subject, action: 'deleting', signal }, (output) =>
      parse(OperationStatusModel, output, subject, 'deleting'),
    );
  }

  /**
   * Asks DashScope to export a checkpoint as a model named `modelName` (§6.10: a GET, yet a write, so never retried).
   * `true` = submitted; `false` = the submission failed (retryable). The checkpoint then moves to SUCCEEDED.
   */
  async exportCheckpoint(
    credential: Credential,
    jobId: string,
    checkpoint: string,
    modelName: string,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const subject = `checkpoint "${checkpoint}" of ${jobSubject(jobId)}`;
    const reason = invalidIdReason(checkpoint);
    if (reason)
      throw new UpstreamError({
        kind: 'invalid-request',
        subject,
        action: 'exporting',
        detail: `the checkpoint name is invalid: ${reason}`,
      });
    return this.call(
      credential,
      {
        method: 'GET',
        path: `${this.jobPath(jobId, subject)}/export/${encodeURIComponent(checkpoint)}`,
        query: { model_name: modelName },
        subject,
        action: 'exporting',
        signal,
        write: true,
      },
      (output) => parse(ExportModel, output, subject, 'exporting'),
    );
  }

  /** The checkpoints that have validation artifacts (§6.11, image and video jobs); empty until the job finishes. */
  async listValidationResults(credential: Credential, jobId: string, signal?: AbortSignal): Promise<ValidationResultRecord[]> {
    const subject = `the validation results of ${jobSubject(jobId)}`;
    return this.call(
      credential,
      { method: 'GET', path: `${this.jobPath(jobId, subject)}/validation-results`, subject, action: 'reading', signal },
      (output) => toValidationResults(parse(ValidationResultListModel, output, subject, 'reading'), jobId),
    );
  }

  /** One page of a checkpoint's validation artifacts (§6.11). */
  async getValidationDetails(
    credential: Credential,
    jobId: string,
    checkpoint: string,
    page: { page: number; pageSize: number },
    signal?: AbortSignal,
  ): Promise<ValidationDetailPageRecord> {
    const subject = `the validation details of checkpoint "${checkpoint}" of ${jobSubject(jobId)}`;
    const reason = invalidIdReason(checkpoint);
    if (reason)
      throw new UpstreamError({ kind: 'invalid-request', subject, action: 'reading', detail: `the checkpoint name is invalid: ${reason}` });
    return this.call(
      credential,
      {
        method: 'GET',
        path: `${this.jobPath(jobId, subject)}/validation-details/${encodeURIComponent(checkpoint)}`,
        query: { page_no: page.page, page_size: page.pageSize },
        subject,
        action: 'reading',
        signal,
      },
      (output) => toValidationDetailPage(parse(ValidationDetailPageModel, output, subject, 'reading')),
    );
  }

  async createDeployment(credential: Credential, body: CreateDeploymentBody, signal?: AbortSignal): Promise<DeploymentRecord> {
    const subject = `a deployment of model ${JSON.stringify(body.model_name)}`;
    return this.call(credential, { method: 'POST', root: 'deployments', path: '', body, subject, action: 'creating', signal }, (output) =>
      this.deployment(output, subject, 'creating'),
    );
  }

  async getDeployment(credential: Credential, id: string, signal?: AbortSignal): Promise<DeploymentRecord> {
    const subject = deploymentSubject(id);
    const path = this.idPath(id, subject, 'deployment');
    return this.call(credential, { method: 'GET', root: 'deployments', path, subject, action: 'reading', signal }, (output) => {
      const deployment = this.deployment(output, subject, 'reading');
      if (deployment.id !== id)
        throw new UpstreamError({
          kind: 'bad-response',
          subject,
          action: 'reading',
          detail: 'deployed_model: another deployment than asked for',
        });
      return deployment;
    });
  }

  async listDeployments(
    credential: Credential,
    params: { page: number; pageSize: number },
    signal?: AbortSignal,
  ): Promise<DeploymentPageRecord> {
    const subject = 'the list of deployments';
    const list = await this.call(
      credential,
      {
        method: 'GET',
        root: 'deployments',
        path: '',
        query: { page_no: params.page, page_size: params.pageSize },
        subject,
        action: 'reading',
        signal,
      },
      (output) => parse(DeploymentListModel, output, subject, 'reading'),
    );
    const elements = list.deployments ?? [];
    const deployments: DeploymentRecord[] = [];
    for (const element of elements) {
      const deployment = DeploymentModel.safeParse(element);
      if (deployment.success) deployments.push(toDeploymentRecord(deployment.data, this.options.timeZoneOffsetMinutes));
    }
    // [INF] paging fields: without `total`, the deployments before this page plus the ones on it (a lower bound).
    const total = list.total ?? (params.page - 1) * params.pageSize + elements.length;
    return { total, deployments, invalidDeployments: elements.length - deployments.length };
  }

  /** The deployment as DashScope answered the scale, or null when the answer is not a whole deployment. */
  async scaleDeployment(credential: Credential, id: string, capacity: number, signal?: AbortSignal): Promise<DeploymentRecord | null> {
    const subject = deploymentSubject(id);
    return this.call(
      credential,
      {
        method: 'PUT',
        root: 'deployments',
        path: `${this.idPath(id, subject, 'deployment')}/scale`,
        body: { deployed_model: id, capacity },
        subject,
        action: 'scaling',
        signal,
      },
      (output) => this.maybeDeployment(output, subject, 'scaling'),
    );
  }

  /** The deployment as DashScope answered the delete (`DELETING`), or null when the answer holds only a status. */
  async deleteDeployment(credential: Credential, id: string, signal?: AbortSignal): Promise<DeploymentRecord | null> {
    const subject = deploymentSubject(id);
    const path = this.idPath(id, subject, 'deployment');
    return this.call(credential, { method: 'DELETE', root: 'deployments', path, subject, action: 'deleting', signal }, (output) =>
      this.maybeDeployment(output, subject, 'deleting'),
    );
  }

  /**
   * The caller's training files (§6.12, `GET /compatible-mode/v1/files`). No paging parameters are sent: OpenAI's list
   * answers the files at once (`has_more` tells when it did not); the gateway pages them itself.
   */
  async listFiles(credential: Credential, signal?: AbortSignal): Promise<TrainingFileListRecord> {
    const subject = 'the list of training files';
    const list = await this.call(
      credential,
      { method: 'GET', root: 'files', compatible: true, path: '', subject, action: 'reading', signal },
      (output) => parse(FileListModel, output, subject, 'reading'),
    );
    const files: TrainingFileRecord[] = [];
    for (const element of list.data) {
      const file = FileModel.safeParse(element);
      if (file.success) files.push(toTrainingFileRecord(file.data));
    }
    return { files, hasMore: list.has_more === true, invalidFiles: list.data.length - files.length };
  }

  async getFile(credential: Credential, id: string, signal?: AbortSignal): Promise<TrainingFileRecord> {
    const subject = fileSubject(id);
    const path = this.idPath(id, subject, 'file');
    return this.call(credential, { method: 'GET', root: 'files', compatible: true, path, subject, action: 'reading', signal }, (output) => {
      const file = toTrainingFileRecord(parse(FileModel, output, subject, 'reading'));
      if (file.id !== id)
        throw new UpstreamError({ kind: 'bad-response', subject, action: 'reading', detail: 'id: another file than asked for' });
      return file;
    });
  }

  /** `true` when DashScope says the file is deleted. */
  async deleteFile(credential: Credential, id: string, signal?: AbortSignal): Promise<boolean> {
    const subject = fileSubject(id);
    const path = this.idPath(id, subject, 'file');
    const answer = await this.call(
      credential,
      { method: 'DELETE', root: 'files', compatible: true, path, subject, action: 'deleting', signal },
      (output) => parse(FileDeletedModel, output, subject, 'deleting'),
    );
    return answer.deleted;
  }

  /**
   * Uploads a training file (§6.12, `POST /compatible-mode/v1/files`, multipart `file` and `purpose=fine-tune`),
   * streaming `content` into the request as DashScope reads it (src/upstream/dashscope/upload-body.ts), on the uploads'
   * own pool and outside the bulkhead. Should `content` fail (the caller's body cut off, stalled, over a limit), the
   * request is aborted mid-body, DashScope makes no file, and the failure is the caller's (`caller`): it counts nothing
   * against DashScope's health. A write: never retried.
   */
  async uploadFile(
    credential: Credential,
    upload: { filename: string; content: AsyncIterable<Uint8Array>; description?: string | null | undefined },
    signal?: AbortSignal,
  ): Promise<TrainingFileRecord> {
    const subject = `training file ${JSON.stringify(upload.filename)}`;
    return this.call(
      credential,
      {
        method: 'POST',
        root: 'files',
        compatible: true,
        path: '',
        upload: new UploadBody(upload),
        subject,
        action: 'creating',
        signal,
        write: true,
      },
      (output) => toTrainingFileRecord(parse(FileModel, output, subject, 'creating')),
    );
  }

  private deployment(output: unknown, subject: string, action: UpstreamFailure['action']): DeploymentRecord {
    return toDeploymentRecord(parse(DeploymentModel, output, subject, action), this.options.timeZoneOffsetMinutes);
  }

  private maybeDeployment(output: unknown, subject: string, action: UpstreamFailure['action']): DeploymentRecord | null {
    const deployment = DeploymentModel.safeParse(output);
    if (deployment.success) return toDeploymentRecord(deployment.data, this.options.timeZoneOffsetMinutes);
    parse(OperationStatusModel, output, subject, action);
    return null;
  }

  /** `jobPath` for any id that becomes a path segment. */
  private idPath(id: string, subject: string, what: string): string {
    const reason = invalidIdReason(id);
    if (reason)
      throw new UpstreamError({ kind: 'invalid-request', subject, action: 'reading', detail: `the ${what} id is invalid: ${reason}` });
    return `/${encodeURIComponent(id)}`;
  }

  /**
   * Lets the requests in flight finish for up to `graceMs`, then destroys the pool: a hung request would otherwise
   * hold `close()` until its own timeouts (shutdown waiting 10 s past its grace). Without `graceMs`, waits for them.
   */
  async close(graceMs?: number): Promise<void> {
    await Promise.all([this.closePool(this.pool, graceMs), this.closePool(this.uploadPool, graceMs)]);
  }

  private async closePool(pool: Pool, graceMs: number | undefined): Promise<void> {
    // Closing twice (a graceful shutdown, then a test's or a signal handler's close) is not an error.
    if (pool.closed || pool.destroyed) return;
    const closed = pool.close();
    if (graceMs === undefined) return closed;
    const grace = new AbortController();
    const timedOut = await Promise.race([closed.then(() => false), pause(graceMs, true, { signal: grace.signal }).catch(() => false)]);
    grace.abort();
    if (timedOut) {
      closed.catch(() => {}); // settles once destroyed; nothing to report
      await pool.destroy();
    }
  }

  private rootPath(call: Call): string {
    if (call.compatible) return `${this.compatiblePath}/${call.root ?? ''}`;
    return call.root ? `${this.apiPath}/${call.root}` : this.basePath;
  }

  private job(output: unknown, subject: string, action: UpstreamFailure['action']): FineTuneJobRecord {
    return toJobRecord(parse(JobModel, output, subject, action), this.options.timeZoneOffsetMinutes);
  }

  /** The id rule holds here too, whatever the caller checked: no id reaches a URL unchecked. */
  private jobPath(jobId: string, subject: string): string {
    const reason = invalidIdReason(jobId);
    if (reason)
      throw new UpstreamError({ kind: 'invalid-request', subject, action: 'reading', detail: `the job id is invalid: ${reason}` });
    return `/${encodeURIComponent(jobId)}`;
  }

  /**
   * The one path to the upstream: every request goes through the resilience guards; only GETs are retried. `read`
   * validates the output inside them, so that a malformed answer is reported (logged) like any other upstream failure.
   */
  private async call<T>(credential: Credential, call: Call, read: (output: unknown) => T): Promise<T> {
    // The rate limit first: a request that waits for its token holds no bulkhead slot meanwhile.
    // One bucket per API key, whatever the workspace: DashScope's rate quota is the key's (account's), and a bucket per
    // workspace would let one key multiply its rate with made-up `x-dashscope-workspace` values (each call still sent).
    const scope = credentialScope({ apiKey: credential.apiKey });
    await this.options.rateLimiter?.acquire(
      scope,
      call.signal,
      (retryAfterMs) =>
        new UpstreamError({
          kind: 'rate-limited',
          subject: call.subject,
          action: call.action,
          detail: 'the upstream rate limit is reached',
          retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)),
        }),
    );
    const endpoint = endpointTemplate(call.method, call.root, call.path);
    const { tracer, onRequest } = this.options;
    let resend = 0;
    const attempt = () =>
      tracer
        ? tracer.attempt(
            { method: call.method, route: endpoint.slice(call.method.length + 1), path: this.rootPath(call) + call.path, resend: resend++ },
            (span) => this.send(credential, call, read, span),
          )
        : this.send(credential, call, read);
    return this.resilience.run(
      {
        idempotent: call.method === 'GET' && !call.write,
        signal: call.signal,
        subject: call.subject,
        action: call.action,
        endpoint,
        // The bulkhead's and the breaker's shares are per key, as the rate limit's (made-up workspaces multiply nothing).
        credential: scope,
        // An upload holds a slot of its own (src/modules/training-file/upload-slots.ts) and a socket of its own pool.
        bulkhead: !call.upload,
      },
      onRequest ? () => observed(endpoint, call.signal, onRequest, attempt) : attempt,
    );
  }

  private async send<T>(credential: Credential, call: Call, read: (output: unknown) => T, span?: UpstreamSpan): Promise<T> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${credential.apiKey}`,
      accept: 'application/json',
      'user-agent': this.options.userAgent ?? 'finetune-gateway',
    };
    if (credential.workspace) headers['x-dashscope-workspace'] = credential.workspace;
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    span?.inject(headers);
    if (call.upload) headers['content-type'] = call.upload.contentType;
    const failure = { subject: call.subject, action: call.action };

    let status: number;
    let responseHeaders: Record<string, string | string[] | undefined>;
    let text: string;
    try {
      const response = await (call.upload ? this.uploadPool : this.pool).request({
        method: call.method,
        path: this.rootPath(call) + call.path + queryString(call.query),
        headers,
        body: call.upload ? call.upload.stream : call.body === undefined ? undefined : JSON.stringify(call.body),
        signal: call.signal,
      });
      status = response.statusCode;
      responseHeaders = response.headers;
      text = await response.body.text();
    } catch (error) {
      if (call.upload?.callersFault(error))
        throw new UpstreamError({ ...failure, kind: 'caller', detail: "the caller's upload body failed or stalled" }, { cause: error });
      throw networkFailure(error, failure);
    }

    if (status >= 200 && status < 300 && call.compatible) {
      const requestId = headerValue(responseHeaders['x-request-id']);
      span?.answered(status, requestId);
      const body = safeJson(text);
      if (body === undefined)
        throw new UpstreamError({
          ...failure,
          kind: 'bad-response',
          httpStatus: status,
          detail: 'the body is not JSON',
          ...(requestId && { requestId }),
        });
      return read(body);
    }
    if (status >= 200 && status < 300) {
      const envelope = SuccessEnvelopeModel.safeParse(safeJson(text));
      const requestId = (envelope.success && envelope.data.request_id) || headerValue(responseHeaders['x-request-id']);
      span?.answered(status, requestId);
      if (!envelope.success || envelope.data.output === undefined) {
        throw new UpstreamError({
          ...failure,
          kind: 'bad-response',
          httpStatus: status,
          detail: 'the body is not a DashScope success envelope',
          ...(requestId && { requestId }),
        });
      }
      try {
        return read(envelope.data.output);
      } catch (error) {
        // DashScope's request id, for the operator to quote to its support.
        if (error instanceof UpstreamError && requestId) throw new UpstreamError({ ...error.failure, requestId }, { cause: error.cause });
        throw error;
      }
    }
    const body = errorBody(safeJson(text));
    throw new UpstreamError({
      ...failure,
      kind: 'http',
      httpStatus: status,
      code: body.code,
      upstreamMessage: body.message,
      requestId: body.request_id ?? headerValue(responseHeaders['x-request-id']),
      retryAfterSeconds: parseRetryAfter(responseHeaders['retry-after']),
    });
  }
}

/** DashScope's envelope `{code, message, request_id}` or OpenAI's `{error: {message, type, code}}`, whichever came. */
function errorBody(json: unknown): { code?: string | undefined; message?: string | undefined; request_id?: string | undefined } {
  const openAi = OpenAiErrorModel.safeParse(json);
  if (openAi.success) {
    const { code, type, message } = openAi.data.error;
    return { code: code != null ? String(code) : (type ?? undefined), message };
  }
  const envelope = ErrorEnvelopeModel.safeParse(json);
  return envelope.success ? envelope.data : {};
}

function fileSubject(id: string): string {
  return `training file "${id}"`;
}

function deploymentSubject(id: string): string {
  return `deployment "${id}"`;
}

function jobSubject(jobId: string): string {
  return `fine-tune job "${jobId}"`;
}

function parse<T extends z.ZodType>(model: T, output: unknown, subject: string, action: UpstreamFailure['action']): z.infer<T> {
  const result = model.safeParse(output);
  if (!result.success) {
    const first = result.error.issues[0];
    throw new UpstreamError({
      kind: 'bad-response',
      subject,
      action,
      detail: first ? `${first.path.join('.') || 'output'}: ${first.message}` : 'unexpected shape',
    });
  }
  return result.data;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function queryString(query: Call['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null) params.set(key, String(value));
  const encoded = params.toString();
  return encoded ? `?${encoded}` : '';
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
