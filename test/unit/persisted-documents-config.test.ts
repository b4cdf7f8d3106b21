import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'persisted-documents-config-'));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

describe('PERSISTED_DOCUMENTS and PERSISTED_DOCUMENTS_ONLY', () => {
  it('reads the manifest once at startup, with ONLY off unless set', () => {
    const manifest = file('ok.json', JSON.stringify({ 'sha256:abc': 'query A { __typename }' }));
    expect(loadConfig({ PERSISTED_DOCUMENTS: manifest }).persistedDocuments).toEqual({
      documents: new Map([['sha256:abc', 'query A { __typename }']]),
      only: false,
    });
    expect(loadConfig({ PERSISTED_DOCUMENTS: manifest, PERSISTED_DOCUMENTS_ONLY: 'true' }).persistedDocuments?.only).toBe(true);
    expect(loadConfig({}).persistedDocuments).toBeUndefined();
  });

  it('refuses to start with a manifest that is missing, not JSON, not an object of strings, or holds a broken document', () => {
    expect(() => loadConfig({ PERSISTED_DOCUMENTS: join(dir, 'missing.json') })).toThrow(
      /PERSISTED_DOCUMENTS: .*missing\.json cannot be read/,
    );
    expect(() => loadConfig({ PERSISTED_DOCUMENTS: file('bad.json', '{ "a": ') })).toThrow(
      /PERSISTED_DOCUMENTS: .*bad\.json is not valid JSON/,
    );
    expect(() => loadConfig({ PERSISTED_DOCUMENTS: file('list.json', '["query { a }"]') })).toThrow(
      /PERSISTED_DOCUMENTS: .*list\.json must be a JSON object of documentId → GraphQL document/,
    );
    expect(() => loadConfig({ PERSISTED_DOCUMENTS: file('broken.json', '{ "x": "query {" }') })).toThrow(
      /PERSISTED_DOCUMENTS: .*broken\.json holds a document that does not parse \(id x/,
    );
  });

  it('refuses PERSISTED_DOCUMENTS_ONLY without a manifest, naming both variables', () => {
    expect(() => loadConfig({ PERSISTED_DOCUMENTS_ONLY: 'true' })).toThrow(/PERSISTED_DOCUMENTS_ONLY: needs PERSISTED_DOCUMENTS/);
    expect(() => loadConfig({ PERSISTED_DOCUMENTS_ONLY: 'yes' })).toThrow(/PERSISTED_DOCUMENTS_ONLY/);
  });
});
