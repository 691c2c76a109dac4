// A hang in the code under test must end the test quickly with a named failure, not hang CI.
/** Fails (rejects) when `p` is still pending after `ms`: a hang becomes a quick, named test failure. */
export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new Error(`HUNG: ${what} still pending after ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}
