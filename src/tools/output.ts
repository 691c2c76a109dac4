// stdout and stderr that outlive their reader. `wwgetscript big | head -c 10`
// or a log piped into `head -1` closes the pipe under us; Node then emits an
// 'error' (EPIPE) that nobody handles: a stack trace and exit 1, the "locked"
// code. Here a closed stream is remembered instead:
// - stdout carries the product (a script, the node configuration): once its
//   reader is gone the product cannot be delivered, so the write fails with a
//   quiet 'output-closed' error and the tool ends with exit 2;
// - stderr carries only the log: once closed, lines are dropped and the job
//   (a file sync, an unpack) carries on to its normal end and status.
import { WwError, describe } from '../core/errors.ts';

export interface Output {
  write(data: string | Buffer, cb?: (err?: Error | null) => void): unknown;
  readonly isTTY?: boolean;
}

export class GuardedOutput implements Output {
  /** Set once a write failed: the reader is gone (EPIPE) or the descriptor is unusable. */
  closed = false;
  failure?: Error;

  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean },
    /** 'product': a failed write is reported to the writer; 'log': it is dropped. */
    private readonly role: 'product' | 'log',
  ) {
    stream.on('error', (err: Error) => this.fail(err));
  }

  get isTTY(): boolean | undefined {
    return this.stream.isTTY;
  }

  private fail(err: Error): void {
    this.closed = true;
    this.failure ??= err;
  }

  write(data: string | Buffer, cb?: (err?: Error | null) => void): boolean {
    if (this.closed) {
      if (cb) process.nextTick(cb, this.role === 'log' ? null : this.failure);
      return false;
    }
    return this.stream.write(data, (err?: Error | null) => {
      if (err) this.fail(err);
      cb?.(this.role === 'log' ? null : err);
    });
  }
}

/** True for the errors that mean "the reading end went away". */
export function isReaderGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END';
}

/** Writes everything and waits until it is flushed (stdout may be a pipe). */
export function writeAll(stream: Output, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(data, (err) => {
      if (!err) return resolve();
      if (isReaderGone(err))
        return reject(new WwError('WW_OUTPUT_CLOSED', 'the reader of stdout went away before the output was written whole'));
      reject(new WwError('WW_IO', `cannot write output: ${describe(err)}`));
    });
  });
}
