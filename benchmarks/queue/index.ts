/** Bench and eval runs across many machines: one BullMQ job per instance, run by `fixwright worker` processes. */
export { INSTANCE_QUEUE, queueRunId } from './jobs.js';
export { cancelledNote, InstanceQueueClient, remoteBench, remoteEvaluator } from './submit.js';
export { MAX_STALLED, startInstanceWorker, type InstanceWorkerOptions, type InstanceWorkerParts } from './work.js';
