import { join } from 'node:path';
import { REPO_ROOT } from '../lib/cluster.js';

// The seeded PRNG of the Raft simulation (mulberry32), reused rather than written twice.
// Loaded from its compiled file: it lives in the raft package's tests, outside this project.
type PrngModule = typeof import('../../packages/raft/test/sim/prng.js');
export const { Prng } = require(join(REPO_ROOT, 'packages/raft/dist/test/sim/prng.js')) as PrngModule;
export type Prng = InstanceType<PrngModule['Prng']>;
