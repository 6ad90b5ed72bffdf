// A refusal the HTTP layer answers with a status and an OpenAI-style error body naming the field:
// {"error": {"message", "type", "param", "code"}}.

export class EngineError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 405 | 413 | 429 | 503,
    message: string,
    /** The request field at fault, or null. */
    readonly field: string | null = null,
    readonly type = 'invalid_request_error',
  ) {
    super(message);
  }
}

export function errorBody(e: EngineError): { error: { message: string; type: string; param: string | null; code: number } } {
  return { error: { message: e.message, type: e.type, param: e.field, code: e.status } };
}
