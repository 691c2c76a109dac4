// A run's record and metrics, as the tool layer sees them (issue 18): a tool says where its root
// is once it knows (begin, after its lock), tells what it learns (note); the error boundary
// (run.ts) ends the record with the exit status and the one-line error, then rewrites the
// node_exporter textfile. Either failing is one warning line: the run's result stays its own.
import type { Logger } from '../core/log.ts';
import { RunRecorder, type RecordedTool, type RunNotes } from '../core/status/record.ts';
import { writeTextfile } from '../core/status/textfile.ts';
import type { Settings } from '../core/settings/sources.ts';
import type { Identity } from '../core/identity.ts';
import { VERSION } from '../version.ts';

export interface RunRecordIO {
  /** Writes the `started` record of `tool` under `rootReal` (call once the run is the only one there). */
  begin(o: { tool: RecordedTool; rootReal: string; settings: Settings; log: Logger }): Promise<void>;
  note(n: RunNotes & { error?: string }): void;
}

export class RunRecordGlue implements RunRecordIO {
  private recorder: RunRecorder | null = null;
  private settings: Settings | null = null;
  private log: Logger | null = null;
  private error: string | undefined;
  private pending: RunNotes = {};

  constructor(
    private readonly identity: Identity,
    private readonly pid: number,
  ) {}

  async begin(o: { tool: RecordedTool; rootReal: string; settings: Settings; log: Logger }): Promise<void> {
    if (this.recorder) return;
    this.recorder = new RunRecorder({ tool: o.tool, rootReal: o.rootReal, identity: this.identity, version: VERSION, pid: this.pid });
    this.recorder.note(this.pending);
    this.settings = o.settings;
    this.log = o.log;
    this.say(await this.recorder.begin());
  }

  note(n: RunNotes & { error?: string }): void {
    const { error, ...rest } = n;
    if (error !== undefined) this.error = error;
    this.pending = { ...this.pending, ...rest };
    this.recorder?.note(rest);
  }

  /** The end of the run (run.ts): the `finished` record, then the textfile. */
  async end(exit: number, error: string | null): Promise<void> {
    const rec = this.recorder;
    if (!rec || !this.log) return;
    this.say(await rec.finish(exit, error ?? (exit === 0 ? null : (this.error ?? null))));
    const dir = this.settings?.get('WWRUNTIME_TEXTFILE_DIR') || undefined;
    // A folder named explicitly is always worth a warning; the default one only to root.
    this.say(await writeTextfile({ rootReal: rec.o.rootReal, dir, identity: this.identity }), dir !== undefined);
  }

  /**
   * A record or textfile that could not be written: a warning for root (the scheduled jobs); for
   * a user's run by hand on the system's root, which cannot write root's records, only with -v.
   */
  private say(line: string | null, always = false): void {
    if (line) (always || this.identity.root ? this.log!.warn : this.log!.debug)(line);
  }
}
