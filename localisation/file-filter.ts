/** Why a file was left out of the index. */
export type SkipReason =
  'not-python' | 'vendored' | 'too-large' | 'binary' | 'undecodable' | 'generated' | 'symlink' | 'unreadable';

const VENDORED_DIRS = new Set([
  'vendor',
  'vendored',
  '_vendor',
  'third_party',
  'thirdparty',
  '3rdparty',
  'extern',
  'externals',
  'node_modules',
  'site-packages',
  '.git',
  'build',
  'dist',
  '.tox',
  '.nox',
  '.eggs',
  '__pycache__',
  '.venv',
  'venv',
  '.mypy_cache',
]);

/** Files larger than this are data or generated code, not what an issue asks to change. */
export const MAX_FILE_BYTES = 512 * 1024;

/** Decides from the path alone whether a file can be a candidate; undefined means "read it". */
export function skipByPath(path: string, sizeBytes?: number): SkipReason | undefined {
  if (!path.endsWith('.py')) return 'not-python';
  const parts = path.split('/');
  if (parts.slice(0, -1).some((p) => VENDORED_DIRS.has(p) || p.endsWith('.egg-info'))) return 'vendored';
  // `<package>/packages/<library>/…`: a library bundled inside a package (requests, older pip).
  if (parts.length > 3 && parts.slice(1, -2).includes('packages')) return 'vendored';
  if (/_pb2(_grpc)?\.py$/.test(path)) return 'generated';
  if (sizeBytes !== undefined && sizeBytes > MAX_FILE_BYTES) return 'too-large';
  return undefined;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Decodes a file's bytes, or says why it cannot be indexed. */
export function decodeSource(bytes: Uint8Array): { text: string } | { skip: SkipReason } {
  if (bytes.includes(0)) return { skip: 'binary' };
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return { skip: 'undecodable' };
  }
  const head = text.slice(0, 400);
  if (/(?:^|\n)#.*(?:@generated|DO NOT EDIT|automatically generated)/i.test(head)) return { skip: 'generated' };
  return { text };
}

const NON_LIBRARY_ROOTS = new Set([
  'doc',
  'docs',
  'examples',
  'example',
  'bench',
  'benchmarks',
  'asv_bench',
  'scripts',
  'ci',
  'tools',
]);

/**
 * Documentation sources, examples, benchmarks and maintenance scripts (Sphinx conf.py, release
 * scripts): they match an issue's words but are rarely what a fix changes.
 */
export function isDocsFile(path: string): boolean {
  return NON_LIBRARY_ROOTS.has(path.split('/')[0]!) && path.includes('/');
}

/** Test code: kept out of the candidates (issue fixes change the library; tests come separately). */
export function isTestFile(path: string): boolean {
  const parts = path.split('/');
  const name = parts[parts.length - 1]!;
  if (name === 'conftest.py' || /^test_.*\.py$/.test(name) || /_tests?\.py$/.test(name)) return true;
  // `testing/` is a test suite at the top (pytest's), but library code inside a package (xarray.testing).
  return parts[0] === 'testing' || parts.slice(0, -1).some((p) => p === 'tests' || p === 'test');
}
