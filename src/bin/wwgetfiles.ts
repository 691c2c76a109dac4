// wwgetfiles: installs this node's provisioned file objects from the master.
import '../tools/scrub-environment.ts'; // first: its module body runs before any other module reads the environment
import { runStandalone } from '../tools/run.ts';
import { wwgetfiles } from '../tools/wwgetfiles.ts';

runStandalone(wwgetfiles);
