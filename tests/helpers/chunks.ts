import { makeTokenRoom, setTokenLimit } from '../../localisation/symbol-index.js';

/** Clears the process-wide chunk cache, as a new process starts (the token table is replaced when full). */
export function forgetChunks(): void {
  const previous = setTokenLimit(0);
  try {
    makeTokenRoom();
  } finally {
    setTokenLimit(previous);
  }
}
