/**
 * A worker thread of the blob pool (`blob-pool.ts`): takes blobs of a job one at a time from the
 * job's shared counter, counts each (`countBlob`) and posts it back, its buffers moved. A blob it
 * throws on is posted as failed, and the main thread counts it again itself.
 */
import { type MessagePort, workerData } from 'node:worker_threads';
import { countBlobPacked, packedBuffers } from './blob-count.js';
import { type BlobJob, claimBlob, JOB_DONE, readBlobText } from './blob-job.js';

const port = (workerData as { port: MessagePort }).port;

port.on('message', (job: BlobJob) => {
  // The scanner switch is read per call (python-parse.ts); follow the main thread's setting of now.
  if (job.scanner === undefined) delete process.env.FIXWRIGHT_PYTHON_SCANNER;
  else process.env.FIXWRIGHT_PYTHON_SCANNER = job.scanner;
  const control = new Int32Array(job.control);
  for (let item = claimBlob(control, job); item >= 0; item = claimBlob(control, job)) {
    try {
      const packed = countBlobPacked(job.paths[item]!, readBlobText(job, item), job.weights);
      port.postMessage({ job: job.id, item, packed }, packedBuffers(packed));
    } catch {
      port.postMessage({ job: job.id, item, packed: undefined });
    }
    // Posted before the count goes up, so the main thread finds the message when it wakes.
    Atomics.add(control, JOB_DONE, 1);
    Atomics.notify(control, JOB_DONE);
  }
});
