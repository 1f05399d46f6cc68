import { Type, type Static } from 'typebox';

const Edit = Type.Object({
  start_line: Type.Integer({ minimum: 1, description: '1-based first line replaced' }),
  end_line: Type.Integer({
    minimum: 0,
    description: 'last line replaced (inclusive); start_line - 1 for an insertion before start_line',
  }),
  replacement: Type.String({ maxLength: 1_000_000, description: 'the new lines, newline-terminated; empty to delete' }),
});

/** A diagnostic as clients send it: its text, or an object with where it is (editors send LSP-like objects). */
export type DiagnosticInputType =
  | string
  | {
      line?: number;
      column?: number;
      message: string;
      code?: string | number;
      severity?: string | number;
      source?: string;
    };

const DiagnosticObject = Type.Object(
  {
    line: Type.Optional(Type.Integer({ minimum: 1, description: '1-based line in `code`' })),
    column: Type.Optional(Type.Integer({ minimum: 0 })),
    message: Type.String({ minLength: 1, maxLength: 4000 }),
    code: Type.Optional(
      Type.Union([Type.String({ maxLength: 100 }), Type.Integer()], {
        description: 'the rule code (F821, E999; a number from an LSP server)',
      }),
    ),
    severity: Type.Optional(Type.Union([Type.String({ maxLength: 40 }), Type.Integer()])),
    source: Type.Optional(Type.String({ maxLength: 100, description: 'who reported it (pyflakes, pyright…)' })),
  },
  { additionalProperties: false },
);

// if/then/else rather than a union: with anyOf, ajv's first error is the string branch's, so an
// object with one wrong field was answered "must be string". Here an object is checked as an object
// and the error names its field (diagnostics.0.line).
const DiagnosticInput = Type.Unsafe<DiagnosticInputType>({
  description: 'a diagnostic: its text, or {line?, column?, message, code?, severity?, source?}',
  if: { type: 'string' },
  then: { type: 'string', minLength: 1, maxLength: 4000 },
  else: DiagnosticObject,
});

/** `POST /v1/edit`'s body. */
export const EditBody = Type.Object(
  {
    language: Type.String({ minLength: 1, maxLength: 40, description: 'python' }),
    code: Type.String({ description: 'the whole file (or snippet) the edits are for' }),
    file_path: Type.Optional(Type.String({ maxLength: 1000 })),
    start_line: Type.Integer({ minimum: 1, description: 'first line the edits may touch' }),
    end_line: Type.Integer({ minimum: 1, description: 'last line the edits may touch (inclusive)' }),
    diagnostics: Type.Optional(Type.Array(DiagnosticInput, { maxItems: 50, default: [] })),
    instruction: Type.Optional(Type.String({ maxLength: 2000 })),
    max_edits: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
    temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
    allow_imports: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          'whether an import may be added at the top of the file, outside start_line..end_line (reported in outside_region)',
      }),
    ),
    previous: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 200_000 }), Type.Array(Edit, { minItems: 1, maxItems: 20 })], {
        description: 'an earlier answer (its raw_patch_dsl or edits) that KEEP_PREVIOUS may keep',
      }),
    ),
  },
  { additionalProperties: false },
);
export type EditBodyType = Static<typeof EditBody>;

const DiagnosticOut = Type.Object({
  line: Type.Optional(Type.Integer()),
  message: Type.String(),
  code: Type.Optional(Type.String()),
  kind: Type.String(),
  name: Type.Optional(Type.String()),
  source: Type.String(),
});

/** `POST /v1/edit`'s answer. */
export const EditAnswer = Type.Object({
  edits: Type.Array(Edit),
  raw_patch_dsl: Type.String(),
  status: Type.Union([Type.Literal('edited'), Type.Literal('no_edits'), Type.Literal('kept_previous')]),
  tier: Type.Union([Type.Literal('rule'), Type.Literal('model'), Type.Literal('cache')]),
  cached_tier: Type.Optional(Type.Union([Type.Literal('rule'), Type.Literal('model')])),
  verification: Type.Object({
    applies: Type.Boolean(),
    parses: Type.Boolean(),
    diagnostics_before: Type.Array(DiagnosticOut),
    diagnostics_after: Type.Array(DiagnosticOut),
    fixed: Type.Union([Type.Boolean(), Type.Literal('unknown')]),
    checked: Type.Array(Type.String()),
    analyser: Type.Object({
      available: Type.Boolean(),
      reason: Type.Optional(Type.String()),
      version: Type.Optional(Type.String()),
    }),
    reason: Type.Optional(Type.String()),
  }),
  outside_region: Type.Optional(
    Type.Array(
      Type.Object({
        start_line: Type.Integer(),
        end_line: Type.Integer(),
        replacement: Type.String(),
        reason: Type.String(),
      }),
    ),
  ),
  model_version: Type.Union([Type.String(), Type.Null()]),
  reason: Type.Optional(Type.String()),
  model_rounds: Type.Integer(),
  timings_ms: Type.Object({
    total: Type.Number(),
    rule: Type.Number(),
    model: Type.Number(),
    analysis: Type.Number(),
    overhead: Type.Number(),
  }),
});
