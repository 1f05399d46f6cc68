// Types of the rule for the TypeScript that imports it (its unit test).
import type { Rule } from 'eslint';

declare const stageBoundaries: Rule.RuleModule;
export default stageBoundaries;
/** Modules besides each stage's index.ts that other stages may import, as repository paths. */
export declare const ENTRY_POINTS: ReadonlySet<string>;
