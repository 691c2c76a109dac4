// The scheduler of wwgetfiles' objects: fetched ahead, several at a time, applied
// strictly in list order. Generic: it knows nothing of files.

/**
 * Applies items one by one in list order, as upstream does, while fetching ahead:
 * at most `limit` fetches in flight, none more than `window` items past the one being
 * applied (a slow object holds back a bounded number of finished downloads and open
 * temporaries). A fetch never waits for an apply and the item being applied waits only
 * for its own fetch, already in flight, so there is no deadlock. An item whose fetch
 * could not be done ahead (null) is tried again after each apply, and at its turn is
 * applied with null (it fetches for itself then).
 */
export async function inListOrder<T, F>(
  items: T[],
  limit: number,
  window: number,
  fetch: (t: T) => Promise<F | null>,
  apply: (t: T, ahead: F | null) => Promise<void>,
): Promise<void> {
  type State = 'new' | 'fetching' | 'later' | 'ready' | 'taken';
  const state: State[] = items.map(() => 'new');
  const laterAt: number[] = [];
  const got: (F | null)[] = [];
  const inFlight: Promise<void>[] = [];
  let done = 0;
  let wake = () => {};
  let changed = new Promise<void>((r) => (wake = r));
  const notify = () => {
    const w = wake;
    changed = new Promise<void>((r) => (wake = r));
    w();
  };
  const pick = () => {
    for (let i = done; i < Math.min(items.length, done + window); i++) {
      if (state[i] === 'new' || (state[i] === 'later' && laterAt[i] < done)) return i;
    }
    return -1;
  };
  const worker = async () => {
    while (done < items.length) {
      const i = pick();
      if (i < 0) {
        await changed;
        continue;
      }
      state[i] = 'fetching';
      inFlight[i] = fetch(items[i]).then((f) => {
        if (state[i] !== 'fetching') return;
        if (f === null) [state[i], laterAt[i]] = ['later', done];
        else [state[i], got[i]] = ['ready', f];
      });
      await inFlight[i];
      notify();
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  for (let i = 0; i < items.length; i++) {
    while (state[i] === 'fetching') await inFlight[i];
    const ahead = state[i] === 'ready' ? got[i] : null;
    state[i] = 'taken';
    got[i] = null;
    await apply(items[i], ahead);
    done++;
    notify();
  }
  await Promise.all(workers);
}
