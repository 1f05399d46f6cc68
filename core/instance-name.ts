/**
 * An instance id as a file or folder name (`django__django-11099` stays as it is): eval's
 * `instances/<name>/`, bench's `results/<name>.json` and `trajectories/<name>.jsonl`, and the
 * exporter, which finds the patch each evaluation judged there, all name instances this one way.
 */
export const instanceFileName = (id: string): string => id.replace(/[^A-Za-z0-9._-]/g, '_');
