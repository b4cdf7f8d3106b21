import { createHash } from 'node:crypto';
import type { Credential } from './dashscope/index.js';

/**
 * A stable name for a credential (key and workspace) that does not reveal the key: for keying anything the gateway
 * keeps across requests per caller (idempotency records, live pollers), so that one caller never sees another's.
 */
export function credentialScope(credential: Credential): string {
  return createHash('sha256')
    .update(credential.apiKey)
    .update('\u0000')
    .update(credential.workspace ?? '')
    .digest('base64url');
}

/**
 * The name of a credential's API key alone, whatever the workspace: what a share of a pool (pollers, subscriptions,
 * the upstream rate, metric labels) is counted by. The workspace header is the caller's to choose, so a share per
 * workspace would let one key multiply its share with made-up workspaces.
 */
export function apiKeyScope(credential: Pick<Credential, 'apiKey'>): string {
  return credentialScope({ apiKey: credential.apiKey });
}
