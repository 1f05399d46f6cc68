/**
 * Strings shaped like credentials, refused or scrubbed even when no setting names them: OpenAI-style
 * keys, bearer tokens, GitHub tokens (classic ghp_/gho_/ghu_/ghs_/ghr_ and fine-grained
 * github_pat_), Hugging Face tokens, AWS access key ids (long-lived AKIA, temporary ASIA).
 * Trajectories are scrubbed with them as they are written; the exporter refuses rows that hold one.
 */
export const KEY_SHAPES: readonly RegExp[] = [
  /\bsk-[A-Za-z0-9_-]{16,}/,
  // A token has a digit somewhere: prose such as "Bearer authentication" is not one.
  /\bBearer\s+(?=[A-Za-z._~+/=-]*[0-9])[A-Za-z0-9._~+/=-]{8,}/,
  /\bgh[pousr]_[A-Za-z0-9]{30,}/,
  /\bgithub_pat_[A-Za-z0-9_]{40,}/,
  /\bhf_[A-Za-z0-9]{30,}/,
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/,
];

/** Every key shape at once, for replacing all of them in a text. */
export const ANY_KEY_SHAPE = new RegExp(KEY_SHAPES.map((shape) => shape.source).join('|'), 'g');
