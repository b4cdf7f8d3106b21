/** One `next` payload of a GraphQL-over-SSE stream. */
export interface StreamPayload {
  data?: Record<string, any> | null;
  errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, any> }>;
}

export interface SseStream {
  status: number;
  /** The next payload, or null once the server completed the stream (or it closed). */
  next(): Promise<StreamPayload | null>;
  /** Every remaining payload until the stream completes. */
  rest(): Promise<StreamPayload[]>;
  /** Disconnects, as a browser tab being closed. */
  close(): void;
}

/**
 * Opens a GraphQL subscription over Server-Sent Events, as a browser would (POST with a JSON body, or GET with the
 * operation in the query string), and reads its `next`/`complete` events.
 */
export async function openSse(
  baseUrl: string,
  query: string,
  variables: Record<string, unknown> = {},
  { headers = {}, method = 'POST' }: { headers?: Record<string, string>; method?: 'GET' | 'POST' } = {},
): Promise<SseStream> {
  const controller = new AbortController();
  const url = new URL('/graphql', baseUrl);
  if (method === 'GET') {
    url.searchParams.set('query', query);
    url.searchParams.set('variables', JSON.stringify(variables));
  }
  const response = await fetch(url, {
    method,
    headers: { accept: 'text/event-stream', ...(method === 'POST' && { 'content-type': 'application/json' }), ...headers },
    ...(method === 'POST' && { body: JSON.stringify({ query, variables }) }),
    signal: controller.signal,
  });
  const queue: Array<StreamPayload | null> = [];
  const waiting: Array<(payload: StreamPayload | null) => void> = [];
  const deliver = (payload: StreamPayload | null) => {
    const resolve = waiting.shift();
    if (resolve) resolve(payload);
    else queue.push(payload);
  };

  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: ?(.*)$/m.exec(block)?.[1];
          const data = block
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trimStart())
            .join('\n');
          if (event === 'complete') deliver(null);
          else if (event === 'next' || (!event && data)) deliver(JSON.parse(data) as StreamPayload);
        }
      }
    } catch {
      // aborted by close()
    }
    deliver(null);
  })();

  const next = () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise<StreamPayload | null>((r) => waiting.push(r)));
  return {
    status: response.status,
    next,
    rest: async () => {
      const payloads: StreamPayload[] = [];
      for (let payload = await next(); payload; payload = await next()) payloads.push(payload);
      return payloads;
    },
    close: () => controller.abort(),
  };
}
