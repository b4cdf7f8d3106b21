// The emulated deployments (docs/upstream.md §6.13): each one's status follows from the emulator's clock, so a demo
// deployment moves PENDING → DEPLOYING → RUNNING, a scale UPDATING → RUNNING, a delete DELETING → gone (404).
import type { NaiveClock } from './time.js';
import type { PhaseDurations } from './types.js';

export interface StoredDeployment {
  id: string;
  modelName: string;
  baseModel: string;
  plan: string;
  chargeType: string;
  workspaceId: string;
  creator: string;
  modifier: string;
  createdAtMs: number;
  /** the last request that changed it (create, scale, delete) */
  requestedAtMs: number;
  /** the capacity asked for last */
  capacity: number;
  /** what was ready before a scale: served as `ready_capacity` while UPDATING */
  previousCapacity: number;
  /** PENDING until then (after a create), then DEPLOYING */
  deployingAtMs: number;
  /** RUNNING from then on (after a create or a scale) */
  runningAtMs: number;
  /** the last change was a scale: UPDATING until `runningAtMs` */
  scaling: boolean;
  /** DELETING until then, gone afterwards */
  goneAtMs?: number;
}

/** A create: PENDING for the `pending` phase, DEPLOYING for the `queuing` phase, then RUNNING. */
export function newDeployment(
  spec: Pick<StoredDeployment, 'id' | 'modelName' | 'baseModel' | 'plan' | 'capacity' | 'workspaceId' | 'creator'>,
  now: number,
  phases: PhaseDurations,
): StoredDeployment {
  return {
    ...spec,
    chargeType: 'post_paid',
    modifier: spec.creator,
    createdAtMs: now,
    requestedAtMs: now,
    previousCapacity: 0,
    deployingAtMs: now + phases.pending,
    runningAtMs: now + phases.pending + phases.queuing,
    scaling: false,
  };
}

export function deploymentStatus(d: StoredDeployment, now: number): string {
  // 'GONE' once a delete completed: the handlers forget it and answer NotFound.
  if (d.goneAtMs !== undefined) return now >= d.goneAtMs ? 'GONE' : 'DELETING';
  if (now >= d.runningAtMs) return 'RUNNING';
  if (d.scaling) return 'UPDATING';
  return now < d.deployingAtMs ? 'PENDING' : 'DEPLOYING';
}

/** A scale: UPDATING for the `pending` phase, with the old capacity ready meanwhile. */
export function scaleDeployment(d: StoredDeployment, capacity: number, now: number, phases: PhaseDurations, modifier: string): void {
  d.previousCapacity = d.capacity;
  d.capacity = capacity;
  d.scaling = true;
  d.requestedAtMs = now;
  d.runningAtMs = now + phases.pending;
  d.modifier = modifier;
}

export function deleteDeployment(d: StoredDeployment, now: number, phases: PhaseDurations, modifier: string): void {
  d.goneAtMs ??= now + phases.pending;
  d.requestedAtMs = now;
  d.modifier = modifier;
}

/** The deployment as a read answers; `withCapacities: false` for the create's answer, which has none (§6.13). */
export function deploymentView(d: StoredDeployment, now: number, clock: NaiveClock, withCapacities = true): Record<string, unknown> {
  const status = deploymentStatus(d, now);
  const ready = status === 'RUNNING' ? d.capacity : status === 'UPDATING' ? Math.min(d.previousCapacity, d.capacity) : 0;
  const changes = [d.requestedAtMs, ...[d.deployingAtMs, d.runningAtMs].filter((t) => t <= now && t >= d.requestedAtMs)];
  return {
    deployed_model: d.id,
    status,
    model_name: d.modelName,
    base_model: d.baseModel,
    ...(withCapacities && { capacity: d.capacity, base_capacity: 1, ready_capacity: ready }),
    plan: d.plan,
    charge_type: d.chargeType,
    workspace_id: d.workspaceId,
    creator: d.creator,
    modifier: d.modifier,
    gmt_create: clock.jobTime(d.createdAtMs),
    gmt_modified: clock.jobTime(Math.max(...changes)),
  };
}
