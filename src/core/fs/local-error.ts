// A failure of a local write as one line: a full disk says so (it must not read like anything
// else, and it is no reason to retry). The VNFS extractor and the marker handling (vnfs/target.ts).
import { WwError, describe } from '../errors.ts';

export function localError(err: unknown, path: string): WwError {
  if (err instanceof WwError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC') return new WwError('WW_NO_SPACE', `no space left on device writing ${path}`, { cause: err });
  if (code === 'EDQUOT') return new WwError('WW_NO_SPACE', `disk quota exceeded writing ${path}`, { cause: err });
  return new WwError('WW_IO', `cannot write ${path}: ${describe(err)}`, { cause: err });
}
