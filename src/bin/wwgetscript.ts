// wwgetscript: prints this node's pre, post or runtime script, once it arrived whole.
import '../tools/scrub-environment.ts'; // first: its module body runs before any other module reads the environment
import { runStandalone } from '../tools/run.ts';
import { wwgetscript } from '../tools/wwgetscript.ts';

runStandalone(wwgetscript);
