import type { Config } from '../config.js';
import { badUserInput, type GatewayError } from '../errors/index.js';
import { isValidId, type Credential } from '../upstream/dashscope/index.js';

const BEARER = /^Bearer\s+([\x21-\x7e]{1,512})\s*$/i;

/**
 * Which DashScope key and workspace a request acts with: the gateway's own, or in forward mode the caller's. In server
 * mode the gateway's workspace is the only one (`x-dashscope-workspace` is not read). A malformed workspace is refused
 * rather than dropped: dropping it would act in the key's default workspace, which the caller did not ask for.
 */
export function credentialFor(config: Config, headers: Headers): Credential | GatewayError | null {
  if (config.auth.mode === 'server') return { apiKey: config.auth.apiKey ?? '', workspace: config.upstream.workspace };
  const token = BEARER.exec(headers.get('authorization') ?? '')?.[1];
  if (!token) return null;
  const workspace = headers.get('x-dashscope-workspace');
  if (workspace === null) return { apiKey: token, workspace: config.upstream.workspace };
  // Not quoted back: the header is the caller's and may hold anything.
  if (!isValidId(workspace))
    return badUserInput('The x-dashscope-workspace header is not a workspace id (1 to 128 letters, digits, _ . : -).');
  return { apiKey: token, workspace };
}

/** The auth rule for every request: in server mode one frozen credential (its hash computed once), else the caller's. */
export function credentials(config: Config): (headers: Headers) => Credential | GatewayError | null {
  if (config.auth.mode !== 'server') return (headers) => credentialFor(config, headers);
  const serverCredential = Object.freeze(credentialFor(config, new Headers()));
  return () => serverCredential;
}
