import type { RuleCandidate, RuleContext, RuleFixer } from '../../language-adapter.js';
import { KEYWORDS } from '../stdlib.js';
import { editDistance, joinLines, splitLines } from '../text.js';

const HEADER = /^\s*(?:async\s+)?(?:def|class|if|elif|else|for|while|with|try|except|finally|match|case)\b/;

/** Lines near a syntax error worth trying (Python points at the line, or just after it). */
function nearby(target: RuleContext['target'], count: number): number[] {
  const line = target.line ?? 1;
  return [line - 1, line, line - 2, line + 1, line - 3, line - 4].filter((l) => l >= 0 && l < count);
}

/** A compound statement's header that lost its colon (`def f(x)` → `def f(x):`). */
export const missingColon: RuleFixer = {
  name: 'missing-colon',
  kinds: ['syntax'],
  propose({ code, target }: RuleContext): RuleCandidate[] {
    const lines = splitLines(code);
    const out: RuleCandidate[] = [];
    for (const row of nearby(target, lines.length)) {
      const line = lines[row]!;
      const body = line.replace(/\s+#.*$/, '');
      // A header's own line, or the closing bracket line of a header spread over several lines.
      const header =
        HEADER.test(line) ||
        (/^\s*[)\]]\s*(?:->.*)?$/.test(body) && lines.slice(Math.max(0, row - 30), row).some((l) => HEADER.test(l)));
      if (!header || /:\s*$/.test(body) || /[,([{\\]\s*$/.test(body)) continue;
      const fixed = [...lines];
      fixed[row] = `${body}:${line.slice(body.length)}`;
      out.push({
        rule: 'missing-colon',
        description: `add the missing ':' at line ${row + 1}`,
        code: joinLines(fixed, code),
      });
    }
    return out;
  },
};

/**
 * A misspelt keyword at the start of a statement (`retrun x`, `improt os`). A bare `retrun` parses
 * as a name, so pyflakes reports it as undefined: that diagnostic is this fixer's too. Several
 * keywords may be one slip away (`fom`: `for`, `from`); each is proposed and verification picks.
 */
export const keywordTypo: RuleFixer = {
  name: 'keyword-typo',
  kinds: ['syntax', 'undefined_name'],
  propose({ code, target }: RuleContext): RuleCandidate[] {
    const lines = splitLines(code);
    const out: RuleCandidate[] = [];
    const rows =
      target.kind === 'undefined_name' ? (target.line ? [target.line - 1] : []) : nearby(target, lines.length);
    for (const row of rows) {
      const m = /^(\s*)([A-Za-z_]+)(?=[\s(:]|$)/.exec(lines[row] ?? '');
      if (!m || KEYWORDS.includes(m[2]!) || m[2]!.length < 2) continue;
      const word = m[2]!;
      if (target.kind === 'undefined_name' && word !== target.name) continue;
      const near = KEYWORDS.filter(
        (k) => k.length > 1 && /^[a-z]/.test(k) && editDistance(word, k) <= (word.length <= 3 ? 1 : 2),
      ).sort((a, b) => editDistance(word, a) - editDistance(word, b));
      for (const keyword of near.slice(0, 3)) {
        const fixed = [...lines];
        fixed[row] = `${m[1]}${keyword}${lines[row]!.slice(m[0].length)}`;
        out.push({
          rule: 'keyword-typo',
          description: `'${word}' at line ${row + 1} looks like the keyword '${keyword}'`,
          code: joinLines(fixed, code),
        });
      }
    }
    return out;
  },
};
