import { parsePythonTree } from '../../localisation/index.js';

/** A tree-sitter node as far as this module reads it. */
interface Node {
  type: string;
  text: string;
  childCount: number;
  children: Node[];
}

/**
 * Python source re-printed from its parse tree, as Python's `ast.dump` would: every node by its
 * type with its children in brackets, leaves (whole strings kept as written) by their text, and
 * comments dropped. The tree keeps the nesting, so a line moved into or out of a block prints
 * differently, while layout and comments do not count. `undefined` when the text does not parse.
 */
export function reprintPython(text: string): string | undefined {
  const tree = parsePythonTree(text);
  if (tree.rootNode.hasError) return undefined;
  const out: string[] = [];
  const walk = (node: Node) => {
    if (node.type === 'comment') return;
    // A string is one token: its quotes and content are the program's, whatever tree-sitter splits them into.
    if (node.childCount === 0 || node.type === 'string') {
      if (node.text.trim()) out.push(node.text);
      return;
    }
    out.push(`${node.type}(`);
    for (const child of node.children) walk(child);
    out.push(')');
  };
  walk(tree.rootNode as unknown as Node);
  return out.join(' ');
}

/** The files a change leaves, as (path, text after); a deleted file has empty text. */
export interface ChangedFile {
  path: string;
  after: string;
}

/**
 * What a candidate changes, normalised: each touched file as it reads after the change, re-printed
 * from its parse (Agentless compares patches the same way, through Python's ast). Candidates with
 * equal keys are the same fix written differently.
 */
export function normalisedChange(files: readonly ChangedFile[]): string {
  return [...files]
    .sort((a, b) => a.path.localeCompare(b.path))
    .map(
      (f) =>
        `${f.path}\u0000${(f.path.endsWith('.py') ? reprintPython(f.after) : undefined) ?? f.after.replace(/\s+/g, ' ').trim()}`,
    )
    .join('\u0001');
}

/** A reproduction test normalised the same way, so the same test written twice judges once. */
export function normalisedTest(content: string): string {
  return reprintPython(content) ?? content.replace(/\s+/g, ' ').trim();
}
