/**
 * The error hierarchy. Every error a user can cause is one of these, with a
 * stable `code`, so the CLI prints one line and exits with docker's codes:
 * 125 for tsrun's own failures, 126 when the command cannot be executed,
 * 127 when it is not found.
 */
export class RuntimeError extends Error {
  readonly code: string = 'RUNTIME';
  /** The process exit code the CLI should use for this error. */
  readonly exitCode: number = 125;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class UsageError extends RuntimeError {
  override readonly code = 'USAGE';
}

export class ContainerNotFoundError extends RuntimeError {
  override readonly code = 'CONTAINER_NOT_FOUND';
  constructor(ref: string) {
    super(`no such container: ${ref}`);
  }
}

export class ImageNotFoundError extends RuntimeError {
  override readonly code = 'IMAGE_NOT_FOUND';
  constructor(ref: string) {
    super(`no such image: ${ref}`);
  }
}

export class ConflictError extends RuntimeError {
  override readonly code = 'CONFLICT';
}

export class InvalidStateError extends RuntimeError {
  override readonly code = 'INVALID_STATE';
  constructor(
    readonly op: string,
    readonly from: string,
    detail?: string,
  ) {
    super(detail ?? `cannot ${op} a container that is ${from}`);
  }
}

export class StoreCorruptError extends RuntimeError {
  override readonly code = 'STORE_CORRUPT';
}

/** A step of the container's start failed; exitCode follows docker (125/126/127). */
export class ContainerStartError extends RuntimeError {
  override readonly code = 'START_FAILED';
  override readonly exitCode: number;
  constructor(
    message: string,
    readonly stage: number,
    readonly errno: string,
    exitCode: number,
  ) {
    super(message);
    this.exitCode = exitCode;
  }
}
