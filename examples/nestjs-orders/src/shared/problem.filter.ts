import { STATUS_CODES } from 'node:http';
import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { PublishUnavailableError, PublishValidationError } from '@stream-workers/producer';

interface Res {
  status(code: number): Res;
  type(t: string): Res;
  json(body: unknown): void;
}

/** Every error answers `application/problem+json` (RFC 9457) with the right status. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  catch(err: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Res>();
    const send = (status: number, title: string, detail: string, extra: Record<string, unknown> = {}) =>
      res.status(status).type('application/problem+json').json({ type: 'about:blank', title, status, detail, ...extra });
    if (err instanceof PublishValidationError) return send(400, 'Bad Request', err.message, { errors: err.errors });
    if (err instanceof PublishUnavailableError) return send(503, 'Service Unavailable', err.message);
    if (err instanceof HttpException) {
      const body = err.getResponse();
      const detail = typeof body === 'string' ? body : String((body as { message?: unknown }).message ?? err.message);
      return send(err.getStatus(), STATUS_CODES[err.getStatus()] ?? 'Error', detail);
    }
    return send(500, 'Internal Server Error', 'unexpected error');
  }
}
