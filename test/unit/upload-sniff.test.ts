import { describe, expect, it } from 'vitest';
import { sniff, typeByName } from '../../src/modules/training-file/upload.js';

/* What an uploaded file is, by its name and by its first bytes (src/modules/training-file/upload.ts). */

describe('typeByName', () => {
  it.each([
    ['train.jsonl', 'jsonl'],
    ['TRAIN.JSONL', 'jsonl'],
    ['images.zip', 'zip'],
    ['train.json', undefined],
    ['train.jsonl.txt', undefined],
    ['blob', undefined],
    ['', undefined],
  ])('%j → %s', (name, type) => expect(typeByName(name)).toBe(type));
});

describe('sniff', () => {
  const bytes = (...parts: Array<string | number[]>) =>
    Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

  it.each([
    ['zip', bytes('PK\x03\x04rest'), 'ok'],
    ['zip', bytes('PK'), 'more'],
    ['zip', bytes(''), 'more'],
    ['zip', bytes('PK\x05\x06'), 'no'],
    ['zip', bytes('{"a":1}'), 'no'],
    ['zip', bytes('Px'), 'no'],
    ['jsonl', bytes('{"messages":[]}\n'), 'ok'],
    ['jsonl', bytes([0xef, 0xbb, 0xbf], '{'), 'ok'],
    ['jsonl', bytes([0xef, 0xbb, 0xbf], ' \r\n\t{'), 'ok'],
    ['jsonl', bytes([0xef, 0xbb]), 'more'],
    ['jsonl', bytes('  \n'), 'more'],
    ['jsonl', bytes('[1]'), 'no'],
    ['jsonl', bytes('PK\x03\x04'), 'no'],
    ['jsonl', bytes([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf], '{'), 'no'],
  ] as const)('%s %j → %s', (type, head, verdict) => expect(sniff(head, type)).toBe(verdict));
});
