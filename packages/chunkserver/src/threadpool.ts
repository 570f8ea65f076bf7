/*
 * Every disk operation of a chunkserver (positional writes, fdatasync, renames, directory
 * fsyncs, readv) runs on libuv's thread pool, which has 4 threads by default. With a dozen
 * small writes in flight, each waiting on two or three fsyncs of several milliseconds, 4
 * threads serialize them: measured on this box, 16 concurrent 1 KiB puts spent ~120 ms each in
 * the pipeline, most of it queued behind fsyncs. libuv reads UV_THREADPOOL_SIZE when the pool
 * starts (on the first asynchronous operation), so this module is imported before anything
 * else of the chunkserver. An operator's own setting wins.
 */
export const CHUNKSERVER_THREADPOOL_SIZE = 32;

if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(CHUNKSERVER_THREADPOOL_SIZE);
