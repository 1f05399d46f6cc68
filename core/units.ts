const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Parses a Docker-style size ("512m", "2g", "1.5G", "1048576") into bytes; undefined when the
 * text is not a positive size, so callers can phrase the error for their own flag.
 */
export function parseByteSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]) * (BYTE_UNITS[(match[2] ?? '').toLowerCase()] ?? NaN);
  return Number.isFinite(value) && value >= 1 ? Math.floor(value) : undefined;
}

/** Formats bytes for people ("1.5 GiB"). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
