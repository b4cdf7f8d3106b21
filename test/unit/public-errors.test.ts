import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { publicError } from '../../src/plugins/use-public-errors.js';
import { schemaErrorCodes } from '../support/schema-codes.js';

const CODES = schemaErrorCodes();

describe('publicError', () => {
  it('logs an error it masks, on one line, and tells the client nothing of it', () => {
    const lines: string[] = [];
    const error = new GraphQLError('Cannot return null for non-nullable field X.y.\r\nERROR forged', { path: ['x', 0, 'y'] });
    const masked = publicError(error, CODES, false, (line) => lines.push(line));
    expect(masked.message).toBe('Unexpected error.');
    expect(masked.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR', retryable: false });
    expect(lines).toEqual([
      'Internal error masked as INTERNAL_SERVER_ERROR at x.0.y: "GraphQLError: Cannot return null for non-nullable field X.y.\\r\\nERROR forged"',
    ]);
  });

  it('logs nothing for an error with a documented code or one of the request', () => {
    const lines: string[] = [];
    publicError(new GraphQLError('gone', { path: ['x'], extensions: { code: 'NOT_FOUND' } }), CODES, false, (line) => lines.push(line));
    publicError(new GraphQLError('Syntax Error: Unexpected Name "x".'), CODES, false, (line) => lines.push(line));
    expect(lines).toEqual([]);
  });
});
