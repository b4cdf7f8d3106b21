// `node --import tsx --import ./test/support/record-emulator-load.ts …`: appends to $RECORD_EMULATOR_LOAD the URL of every module
// under src/emulator/ that the process loads, so that a test can tell whether the emulator was loaded at all; and of every
// OpenTelemetry module (src/observability/otel.ts, @opentelemetry/*, @envelop/opentelemetry), loaded only with tracing on.
import { register } from 'node:module';

const hooks = `
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (/\\/src\\/emulator\\/|\\/src\\/observability\\/otel\\.|\\/node_modules\\/(@opentelemetry|@envelop\\/opentelemetry)\\//.test(result.url)) appendFileSync(${JSON.stringify(process.env.RECORD_EMULATOR_LOAD ?? '/dev/null')}, result.url + '\\n');
  return result;
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
