import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apps, autoscaling, policy, v1 } from 'kubernetes-models';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';

/*
 * deploy/ validated the way kubeconform would (each object against Kubernetes' OpenAPI schema, through
 * kubernetes-models), plus the rules that tie the manifests to this gateway: probes on the endpoints it serves, a
 * termination grace above its drain, a preStop equal to the ready delay, variables it reads, a non-root user.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(ROOT, 'deploy');
const MODELS: Record<string, { new (data: never): { validate(): void } }> = {
  'v1/ConfigMap': v1.ConfigMap,
  'v1/Service': v1.Service,
  'apps/v1/Deployment': apps.v1.Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': autoscaling.v2.HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': policy.v1.PodDisruptionBudget,
};

type Manifest = Record<string, any>;
const files = readdirSync(DIR).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml');
const manifests: Manifest[] = files.flatMap((file) =>
  parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc) => {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    return doc.toJS() as Manifest;
  }),
);
const one = (kind: string) => {
  const found = manifests.filter((m) => m.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
};
const configVariables = [...readFileSync(join(ROOT, 'src/config.ts'), 'utf8').matchAll(/^\s+([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!);

describe('deploy/ manifests', () => {
  it('are each valid against the Kubernetes schema of their kind', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(5);
    for (const manifest of manifests) {
      const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
      expect(Model, `${manifest.apiVersion} ${manifest.kind} has a schema here`).toBeDefined();
      expect(() => new Model!(manifest as never).validate(), `${manifest.kind} ${manifest.metadata?.name}`).not.toThrow();
    }
  });

  it('the schema check refuses a broken manifest (the check can fail)', () => {
    const broken = structuredClone(one('Deployment'));
    broken.spec.replicas = 'two';
    expect(() => new apps.v1.Deployment(broken as never).validate()).toThrow(/replicas/);
  });

  it('lists every manifest in kustomization.yaml', () => {
    const kustomization = parseAllDocuments(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as Manifest;
    expect([...kustomization.resources].sort()).toEqual([...files].sort());
  });

  const deployment = one('Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const config = one('ConfigMap').data as Record<string, string>;

  it('probes the endpoints the gateway serves: liveness on /health, readiness on /ready', () => {
    expect(container.livenessProbe.httpGet.path).toBe('/health');
    expect(container.startupProbe.httpGet.path).toBe('/health');
    expect(container.readinessProbe.httpGet.path).toBe('/ready');
    const port = container.ports.find((p: Manifest) => p.name === container.readinessProbe.httpGet.port);
    expect(port?.containerPort).toBe(Number(config.PORT));
  });

  it('gives the pod longer to stop than preStop + ready delay + drain grace, and preStop equals the ready delay', () => {
    const preStopMs = container.lifecycle.preStop.sleep.seconds * 1000;
    const readyDelayMs = Number(config.SHUTDOWN_READY_DELAY_MS);
    const graceMs = Number(config.SHUTDOWN_GRACE_MS);
    expect(preStopMs).toBe(readyDelayMs);
    // Above the sum, with room for the answers of operations cut off at the end of the grace.
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(preStopMs + readyDelayMs + graceMs + 10_000);
  });

  it('runs as the image’s non-root user, read-only, without privileges', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).not.toBe(0);
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/^USER node$/m);
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('sets resource requests and limits', () => {
    expect(container.resources.requests).toMatchObject({ cpu: expect.anything(), memory: expect.anything() });
    expect(container.resources.limits).toMatchObject({ cpu: expect.anything(), memory: expect.anything() });
  });

  it('names only variables the gateway reads, and keeps the secrets in a Secret', () => {
    const names = [...Object.keys(config), ...container.env.map((e: Manifest) => e.name)];
    expect(names.filter((name) => !configVariables.includes(name))).toEqual([]);
    for (const secret of ['DASHSCOPE_API_KEY', 'REDIS_URL']) {
      expect(Object.keys(config)).not.toContain(secret);
      expect(container.env.find((e: Manifest) => e.name === secret)?.valueFrom?.secretKeyRef?.key).toBe(secret);
    }
    expect(config.NODE_ENV).toBe('production');
  });

  it('serves /metrics on a port of its own (METRICS_PORT), named `metrics`, scraped in the cluster and never in the Service', () => {
    const metricsPort = Number(config.METRICS_PORT);
    expect(metricsPort).toBeGreaterThan(0);
    expect(metricsPort).not.toBe(Number(config.PORT));
    // The loopback default would leave Prometheus nothing to scrape from outside the pod.
    expect(config.METRICS_HOST).toBe('0.0.0.0');
    expect(container.ports.find((p: Manifest) => p.name === 'metrics')?.containerPort).toBe(metricsPort);
    const annotations = deployment.spec.template.metadata.annotations ?? {};
    if (annotations['prometheus.io/port']) expect(Number(annotations['prometheus.io/port'])).toBe(metricsPort);
    const service = one('Service');
    for (const port of service.spec.ports) {
      expect(port.targetPort).not.toBe('metrics');
      expect(port.targetPort).not.toBe(metricsPort);
      expect(port.port).not.toBe(metricsPort);
    }
  });

  it('ties the Service, the autoscaler and the disruption budget to the Deployment', () => {
    const labels = deployment.spec.template.metadata.labels;
    expect(deployment.spec.selector.matchLabels).toEqual(labels);
    const service = one('Service');
    expect(service.spec.selector).toEqual(labels);
    expect(container.ports.map((p: Manifest) => p.name)).toContain(service.spec.ports[0].targetPort);
    expect(service.spec.ports.map((p: Manifest) => p.targetPort)).toEqual(['http']);
    const hpa = one('HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata.name });
    const pdb = one('PodDisruptionBudget');
    expect(pdb.spec.selector.matchLabels).toEqual(labels);
    // A voluntary eviction can always proceed: more replicas than the budget keeps.
    expect(hpa.spec.minReplicas).toBeGreaterThan(pdb.spec.minAvailable);
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(hpa.spec.minReplicas);
  });
});
