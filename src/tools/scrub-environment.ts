// Imported first by every executable's entry (build/build.mjs), for its side effect: the module
// bodies of a bundle run in import order, so nothing else has read the environment yet.
import { leaveClusterWorkerMode, scrubEnvironment } from './environment.ts';

scrubEnvironment(process.env);
leaveClusterWorkerMode();
