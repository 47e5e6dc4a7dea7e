/**
 * A request the server answers with a result code instead of processing it. Thrown by
 * parsers and op handlers deep in a transaction; caught where the reply is built, so a
 * bad request never becomes a stack trace or a hung connection.
 */
export class ResultError extends Error {
  constructor(
    readonly resultCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ResultError';
  }
}
